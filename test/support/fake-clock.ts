/**
 * The unit tests' clock is the one kubekv/testing ships to app developers
 * (src/testing/manual-clock.ts): time moves only when a test calls
 * `advance(ms)`, which fires due timers in order and lets the promises they
 * start settle; the wall clock can also be jumped alone (`setWall`).
 */
export { ManualClock as FakeClock } from '../../src/testing/manual-clock.js';
