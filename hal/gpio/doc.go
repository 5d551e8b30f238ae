// Package gpio drives a console's front-panel buttons and LEDs on real GPIO
// lines through periph.io.
//
// The driver (Panel, built by New) works on gpio.PinIO values, so tests hand
// it periph's gpiotest fakes; Open resolves line names or chip offsets to the
// machine's GPIO character-device lines first and then calls New.
//
// Buttons are edge driven: one goroutine per button waits on the line's edge
// events and a second one debounces them on the panel's clock. A level change
// counts only once the line has held the new level for the debounce time
// (DefaultDebounce unless configured); anything shorter is bounce and is
// dropped. The event's At is the moment the line reached the level it then
// held, so a hold's length is the difference of two events' At.
//
// LEDs are output lines. All blinking LEDs are driven by one panel ticker:
// they blink at 2 Hz (BlinkHalfPeriod on, BlinkHalfPeriod off) and in phase
// with each other, and an LED switched to Blink joins the current phase.
//
// Active-low lines are supported for both buttons (a pressed button reads Low,
// the usual wiring to ground with a pull-up) and LEDs (lit by driving Low).
package gpio
