// Captured at load, before any test installs fake timers, so polling works under them too
const realSetTimeout = global.setTimeout;

/**
 * Poll until a condition holds. For state that changes asynchronously on the server side (a count, a list of
 * calls); the timeout only bounds a failing test, it asserts nothing about timing.
 */
export const waitFor = async (condition: () => boolean | Promise<boolean>, what = 'condition', timeoutMs = 5000): Promise<void> => {
    const deadline = Date.now() + timeoutMs;
    while (!(await condition())) {
        if (Date.now() > deadline) {
            throw new Error(`Timed out waiting for: ${what}`);
        }
        await new Promise((resolve) => realSetTimeout(resolve, 5));
    }
};
