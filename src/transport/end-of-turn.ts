/**
 * Runs jobs at the end of the current turn (the next microtask checkpoint) with one promise reaction per turn,
 * however many parts of the server ask: the write batching and the serialisation reuse both need the end of
 * every turn in which a message is sent, and on an echo path every message is a turn of its own.
 * A promise reaction rather than queueMicrotask, which makes an AsyncResource each time.
 */
export class EndOfTurn {

    readonly #jobs: Array<() => void> = [];
    readonly #run = (): void => {
        const jobs = this.#jobs;
        let failure: {error: unknown} | null = null;
        // A job may ask for another; it runs in this same pass. One that throws does not keep the others from
        // running (a batcher that never flushed would hold every later write back)
        for (let index = 0; index < jobs.length; index++) {
            try {
                jobs[index]();
            } catch (error) {
                failure ??= {error};
            }
        }
        jobs.length = 0;
        if (failure) {
            // Not to be swallowed: a bug, reported as an unhandled rejection
            throw failure.error;
        }
    };

    /** Run `job` at the end of this turn; a caller asks at most once per turn */
    atEnd(job: () => void): void {
        if (this.#jobs.length === 0) {
            void RESOLVED.then(this.#run);
        }
        this.#jobs.push(job);
    }
}

const RESOLVED = Promise.resolve();
