package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// DecodeRequest decodes a request's body into v, strictly: one JSON object
// of v's fields, each named once, valid UTF-8 text (a lone surrogate, which
// encoding/json would quietly turn into U+FFFD, is refused too), and
// nothing after it but white space. What a console applies is then exactly
// what was sent. The errors are one line.
func DecodeRequest(b []byte, v any) error {
	if len(bytes.TrimSpace(b)) == 0 {
		return errors.New("empty request: want a JSON object")
	}
	if !utf8.Valid(b) {
		return errors.New("the request is not valid UTF-8 text")
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if rest := bytes.TrimSpace(b[dec.InputOffset():]); len(rest) > 0 {
		return fmt.Errorf("data after the JSON object: %.20q", rest)
	}
	if err := checkNames(b); err != nil {
		return err
	}
	return checkSurrogates(b)
}

// checkNames refuses an object that names a field twice. encoding/json
// matches names regardless of case, so "key" and "Key" are the same field.
func checkNames(b []byte) error {
	type level struct {
		obj     bool
		wantKey bool
		names   map[string]bool
	}
	var stack []*level
	valueDone := func() {
		if n := len(stack); n > 0 && stack[n-1].obj {
			stack[n-1].wantKey = true
		}
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		switch t := tok.(type) {
		case json.Delim:
			switch t {
			case '{', '[':
				stack = append(stack, &level{obj: t == '{', wantKey: t == '{', names: map[string]bool{}})
			default:
				stack = stack[:len(stack)-1]
				valueDone()
			}
		default:
			if n := len(stack); n > 0 && stack[n-1].obj && stack[n-1].wantKey {
				name, top := t.(string), stack[n-1]
				if top.names[strings.ToLower(name)] {
					return fmt.Errorf("field %q twice", name)
				}
				top.names[strings.ToLower(name)] = true
				top.wantKey = false
				continue
			}
			valueDone()
		}
	}
}

// checkSurrogates refuses a \u escape of half a surrogate pair without its
// other half. b is valid JSON.
func checkSurrogates(b []byte) error {
	inString := false
	for i := 0; i < len(b); i++ {
		switch c := b[i]; {
		case c == '"':
			inString = !inString
		case c == '\\' && inString:
			if b[i+1] != 'u' {
				i++
				continue
			}
			r := hex4(b[i+2:])
			switch {
			case r >= 0xd800 && r < 0xdc00:
				if i+12 <= len(b) && b[i+6] == '\\' && b[i+7] == 'u' {
					if lo := hex4(b[i+8:]); lo >= 0xdc00 && lo < 0xe000 {
						i += 11
						continue
					}
				}
				return fmt.Errorf("a lone surrogate \\u%04x: not valid UTF-8 text", r)
			case r >= 0xdc00 && r < 0xe000:
				return fmt.Errorf("a lone surrogate \\u%04x: not valid UTF-8 text", r)
			}
			i += 5
		}
	}
	return nil
}

func hex4(b []byte) rune {
	var r rune
	for _, c := range b[:4] {
		r <<= 4
		switch {
		case c >= '0' && c <= '9':
			r |= rune(c - '0')
		case c >= 'a' && c <= 'f':
			r |= rune(c - 'a' + 10)
		case c >= 'A' && c <= 'F':
			r |= rune(c - 'A' + 10)
		}
	}
	return r
}
