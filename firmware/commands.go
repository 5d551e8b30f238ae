package firmware

import (
	"context"
	"fmt"

	"consoled/api"
	"consoled/hal"
)

// command is one job for the command worker: a gesture to carry out, or a
// barrier to answer once everything queued before it is done.
type command struct {
	gesture Gesture
	reply   chan []api.CommandResult
}

// runCommands carries out gestures one at a time, in the order they were
// made, off the panel loop so a long launch never freezes the LEDs.
func (s *Service) runCommands(ctx context.Context) {
	var done []api.CommandResult
	for {
		select {
		case <-ctx.Done():
			return
		case c := <-s.cmds:
			if c.reply != nil {
				c.reply <- done
				done = nil
				continue
			}
			r := s.doGesture(ctx, c.gesture)
			if r.Error != "" {
				s.log.Warn("front panel", "gesture", r.Gesture, "command", r.Command, "err", r.Error)
			} else {
				s.log.Info("front panel", "gesture", r.Gesture, "command", r.Command)
			}
			done = append(done, r)
		}
	}
}

func (s *Service) doGesture(ctx context.Context, g Gesture) api.CommandResult {
	r := api.CommandResult{Gesture: g.String()}
	s.resumer.operatorActed()
	var err error
	switch g.Button {
	case hal.ButtonLaunch:
		show := s.lastShow()
		if show == "" {
			r.Command = "launch"
			err = fmt.Errorf("no show to launch: launch one once with consolectl launch SHOW, or start consoled with --show")
			break
		}
		r.Command = "launch " + show
		if g.Hold {
			r.Command += " --force"
		}
		err = s.launch(ctx, show, g.Hold)
	case hal.ButtonLogoff:
		r.Command = "logoff"
		err = s.engine.Logoff(ctx)
	default:
		r.Command = "none"
	}
	if err != nil {
		r.Error = err.Error()
	}
	return r
}
