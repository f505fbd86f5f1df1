export type ProbeOutcome = 'alive' | 'gone';

/**
 * Whether a connection is alive: settled 'alive' by any pong, 'gone' when the time is up or the connection is
 * given up. One probe answers every caller that asks while it runs.
 */
export class LivenessProbe {

    readonly promise: Promise<ProbeOutcome>;
    #resolve: (outcome: ProbeOutcome) => void = () => undefined;
    readonly #timer: NodeJS.Timeout;

    /** A probe that `ping` starts; `ended` is told when it has its outcome */
    static start(timeoutMs: number, ping: () => void, ended: () => void): LivenessProbe {
        const probe = new LivenessProbe(timeoutMs);
        probe.promise.then(ended, ended);
        ping();
        return probe;
    }

    private constructor(timeoutMs: number) {
        this.promise = new Promise((resolve) => {
            this.#resolve = resolve;
        });
        this.#timer = setTimeout(() => this.end('gone'), timeoutMs);
        this.#timer.unref();
    }

    end(outcome: ProbeOutcome): void {
        clearTimeout(this.#timer);
        this.#resolve(outcome);
    }
}
