/**
 * What sendMessage returns for a message the operating system took at once: one promise per tick, resolved
 * by process.nextTick. Node runs promise reactions only once its nextTick queue is empty, and that queue
 * holds the write callbacks of everything written in this tick (also after the promise was made), so a
 * caller goes on only after all of them have run.
 *
 * Why not a promise resolved already: a caller that awaits each send in a loop (a broadcast after a
 * broadcast) would then go on within the same drain of the microtask queue, and Node would never get to run
 * those callbacks; they, and the buffers they hold, would pile up for as long as the loop runs.
 */
let current: Promise<void> | null = null;
let resolveCurrent: () => void = () => undefined;

// Made once, not per tick: this runs for nearly every tick in which something is sent
const capture = (resolve: () => void): void => {
    resolveCurrent = resolve;
};
const settle = (): void => {
    current = null;
    resolveCurrent();
};

export const writesSettled = (): Promise<void> => {
    if (!current) {
        current = new Promise(capture);
        process.nextTick(settle);
    }
    return current;
};
