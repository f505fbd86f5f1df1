/**
 * What sendMessage returns for a message the operating system took at once: one promise per tick, resolved
 * by process.nextTick, so after the write callbacks Node has queued for everything written until then.
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
