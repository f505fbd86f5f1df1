/**
 * What sendMessage returns for a message the operating system took at once: one promise per tick, resolved by
 * process.nextTick. Node runs promise reactions only once its nextTick queue is empty, and that queue holds the
 * write callbacks of everything written in this tick (also after the promise was made), so a caller goes on
 * only after all of them have run. A promise resolved already would let a caller that awaits each send in a
 * loop go on within one drain of the microtask queue, and Node would never get to run those callbacks (nor
 * free the buffers they hold) while the loop runs.
 */
export class WritesSettled {

    #current: Promise<void> | null = null;
    #resolveCurrent: () => void = () => undefined;
    // Made once, not per tick: this runs for nearly every tick in which something is sent
    readonly #capture = (resolve: () => void): void => {
        this.#resolveCurrent = resolve;
    };
    readonly #settle = (): void => {
        this.#current = null;
        this.#resolveCurrent();
    };

    next(): Promise<void> {
        if (!this.#current) {
            this.#current = new Promise(this.#capture);
            process.nextTick(this.#settle);
        }
        return this.#current;
    }
}
