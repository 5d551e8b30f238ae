// Package board says which GPIO line is which front-panel function on a
// console, and opens the board: Open(spec) returns a hal.Board.
//
// Specs:
//
//	mock              the in-memory board, a *mock.Board
//	mock,nic=IFNAME   mock buttons and LEDs, the real NIC IFNAME (benches):
//	                  its buttons are hal.ButtonPressers, its link no hal.LinkSetter
//	rpi               the built-in Raspberry Pi wiring below, NIC eth0
//	PATH              a board file
//
// # Board files
//
// YAML, decoded strictly (unknown keys are errors):
//
//	chip: gpiochip0        # default chip for lines given by offset
//	debounce: 20ms         # default button debounce (default 20ms, at most 1s)
//	nic: eth0              # the show-network NIC (required)
//	buttons:
//	  launch: {line: GPIO17, active_low: true}
//	  logoff: {chip: gpiochip0, offset: 27, active_low: true, debounce: 30ms}
//	leds:
//	  active: {line: GPIO5}
//	  backup: {offset: 6}
//	  sync:   {offset: 13}
//	  link:   {offset: 19}
//	  fault:  {offset: 26, active_low: true}
//
// buttons and leds must name exactly the functions in hal.ButtonNames and
// hal.LEDNames. Each gives its line by name (line: as gpioinfo shows it;
// chip: narrows the search to one chip) or by offset (on chip:, or the
// file's chip), not both, and no line may serve two functions. Keys of a
// function: line, chip, offset, active_low; buttons also pull (up, down or
// none; default up when active_low, else down) and debounce.
//
// # The rpi board
//
// Buttons close to ground against the Pi's internal pull-ups (active-low);
// LEDs are lit by a High output through a 330 Ω resistor to ground.
//
//	function  GPIO     header pin   ground pin
//	launch    GPIO17   11           9
//	logoff    GPIO27   13           14
//	active    GPIO5    29           30
//	backup    GPIO6    31           34
//	sync      GPIO13   33           34
//	link      GPIO19   35           39
//	fault     GPIO26   37           39
//
// The lines are found by name, so the wiring works on every Pi with the
// 40-pin header, the Pi 5 included.
package board
