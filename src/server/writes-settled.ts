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

export const writesSettled = (): Promise<void> => {
    if (!current) {
        let resolve: () => void = () => undefined;
        current = new Promise((done) => {
            resolve = done;
        });
        process.nextTick(() => {
            current = null;
            resolve();
        });
    }
    return current;
};
