/**
 * Preload (`node --import <this file>`) that moves a test child's clock forward by
 * PITRD_TEST_CLOCK_SHIFT_MS milliseconds: `Date.now()` and `new Date()` read the shifted time, so
 * a real CLI process (e.g. `pitrd expire`) decides as it would that much later. Test-only; the
 * product has no clock switch.
 */
const shift = Number(process.env.PITRD_TEST_CLOCK_SHIFT_MS ?? 0);
if (Number.isFinite(shift) && shift !== 0) {
  const RealDate = globalThis.Date;
  const now = () => RealDate.now() + shift;
  globalThis.Date = new Proxy(RealDate, {
    construct: (target, args, newTarget) => Reflect.construct(target, args.length === 0 ? [now()] : args, newTarget),
    apply: () => new RealDate(now()).toString(),
    get: (target, prop, receiver) => (prop === 'now' ? now : Reflect.get(target, prop, receiver)),
  });
}
