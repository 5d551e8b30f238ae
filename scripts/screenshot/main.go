// Command screenshot takes docs/panel.png: the web panel of the third of
// three consoles on one show network while it takes a full copy of the
// show. It runs the scenario with the real binaries (make screenshot builds
// them) and a headless Chromium:
//
//  1. desk-1 launches the show, desk-2 and desk-3 join it as backups;
//  2. desk-3 logs off, and desk-1 takes more edits than its edit log
//     keeps (--log-retain), so that desk-3 can no longer catch up;
//  3. desk-3 launches again and gets the show as a full copy, and the
//     picture is taken while the copy arrives.
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sync"
	"syscall"
	"time"

	"github.com/chromedp/chromedp"

	"consoled/client"
	"consoled/internal/browsertest"
	"consoled/replication/wire"
)

func main() {
	bin := flag.String("bin", "bin", "directory of consoled and consolectl")
	out := flag.String("out", "docs/panel.png", "the picture")
	size := flag.Int("mib", 400, "MiB of show data desk-3 has to copy")
	flag.Parse()
	if err := run(*bin, *out, *size); err != nil {
		fmt.Fprintln(os.Stderr, "screenshot:", err)
		os.Exit(1)
	}
}

type desk struct {
	id, data string
	cmd      *exec.Cmd
	log      *bytes.Buffer
	mu       *sync.Mutex
	c        *client.Client
}

func (d *desk) logText() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.log.String()
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func run(bin, out string, mib int) error {
	if browsertest.Path() == "" {
		return errors.New("no chromium installed (apt-get install chromium)")
	}
	dir, err := os.MkdirTemp("", "consoled-screenshot-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	key := filepath.Join(dir, "network.key")
	if _, _, err := wire.LoadOrCreateKey(key); err != nil {
		return err
	}
	var desks []*desk
	defer func() {
		for _, d := range desks {
			d.c.Close()
			d.cmd.Process.Signal(syscall.SIGTERM)
			d.cmd.Wait()
		}
	}()
	var peers string
	for i := 1; i <= 3; i++ {
		d := &desk{id: fmt.Sprintf("desk-%d", i), data: filepath.Join(dir, fmt.Sprintf("desk-%d", i)), log: &bytes.Buffer{}, mu: &sync.Mutex{}}
		args := []string{"--id", d.id, "--data", d.data, "--listen", fmt.Sprintf("127.0.0.1:%d", 17400+i), "--network-key", key,
			"--discovery", "off", "--log-retain", "100", "--http", "off"}
		if i == 3 {
			args[len(args)-1] = "127.0.0.1:0"
		}
		if peers != "" {
			args = append(args, "--peers", peers)
		}
		peers += fmt.Sprintf("127.0.0.1:%d,", 17400+i)
		d.cmd = exec.Command(filepath.Join(bin, "consoled"), args...)
		d.cmd.Stdout, d.cmd.Stderr = lockedWriter{d.mu, d.log}, lockedWriter{d.mu, d.log}
		if err := d.cmd.Start(); err != nil {
			return err
		}
		d.c = client.Unix(filepath.Join(d.data, "consoled.sock"))
		desks = append(desks, d)
		if err := until(20*time.Second, d.id+" to answer", func() bool {
			_, err := d.c.Status(context.Background())
			return err == nil
		}); err != nil {
			return err
		}
	}
	ctx := context.Background()
	d1, d2, d3 := desks[0], desks[1], desks[2]
	for _, d := range desks {
		if _, err := d.c.Launch(ctx, "demo", false); err != nil {
			return fmt.Errorf("%s launch: %w", d.id, err)
		}
	}
	for i := range 20 {
		if _, err := d2.c.Set(ctx, fmt.Sprintf("cue/%d", i+1), fmt.Sprintf(`{"fade":%d}`, i%5)); err != nil {
			return err
		}
	}
	if _, err := d3.c.Logoff(ctx); err != nil {
		return err
	}
	fmt.Printf("filling the show with %d MiB\n", mib)
	if err := fill(d1.c, mib); err != nil {
		return err
	}

	addr := regexp.MustCompile(`msg="console started".* http=(\S+)`).FindStringSubmatch(d3.logText())
	if addr == nil {
		return errors.New("desk-3 logged no web panel address")
	}
	b, err := browsertest.Start(filepath.Join(dir, "browser"), 1200, 1400)
	if err != nil {
		return err
	}
	defer b.Close()
	if err := b.Do(20*time.Second, chromedp.Navigate("http://"+addr[1]+"/"), chromedp.WaitVisible("#network tbody tr")); err != nil {
		return err
	}
	launched := make(chan error, 1)
	go func() {
		_, err := d3.c.Launch(ctx, "demo", false)
		launched <- err
	}()
	if _, err := b.WaitJS(60*time.Second, `!document.getElementById("copy").hidden && /left/.test(document.getElementById("copy-text").textContent) && +document.getElementById("copy-bar").getAttribute("aria-valuenow") >= 30`); err != nil {
		return fmt.Errorf("the copy did not show: %w", err)
	}
	// The bar's fill slides to each new value (a CSS transition): wait
	// until it shows the value it says.
	if _, err := b.WaitJS(10*time.Second, `(() => { const b = document.getElementById("copy-bar"), f = document.getElementById("copy-fill"); return Math.abs(100*f.getBoundingClientRect().width/b.getBoundingClientRect().width - +b.getAttribute("aria-valuenow")) < 2 })()`); err != nil {
		return fmt.Errorf("the progress bar did not settle: %w", err)
	}
	png, err := chromedp.Run(b.Ctx, chromedp.FullScreenshot(100))
	if err != nil {
		return err
	}
	if err := <-launched; err != nil {
		return fmt.Errorf("desk-3 launch: %w", err)
	}
	if errs := b.Errors(); len(errs) > 0 {
		return fmt.Errorf("the page reported errors: %v", errs)
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(out, png, 0o644); err != nil {
		return err
	}
	fmt.Println("wrote", out)
	return nil
}

// fill writes mib MiB of values that do not compress, through edit streams
// on 8 connections.
func fill(c *client.Client, mib int) error {
	const size = 64 << 10
	n := mib << 20 / size
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, size/2)
			for i := w; i < n; i += 8 {
				rand.Read(buf)
				if _, err := c.Set(context.Background(), fmt.Sprintf("media/%06d", i), hex.EncodeToString(buf)); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	return <-errs
}

func until(d time.Duration, what string, cond func() bool) error {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			return fmt.Errorf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return nil
}
