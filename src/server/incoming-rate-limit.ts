import type WebSocket from 'ws';

export type IncomingRateOptions = {
    /** Messages per second a client may send in the long run */
    readonly perSecond: number;
    /** Messages it may send at once beyond that */
    readonly burst: number;
};

type Bucket = {tokens: number; at: number};

/**
 * A token bucket per socket for the frames its client sends: `burst` at once, refilled at `perSecond`. A client
 * that runs it empty sends faster than any page has reason to, for longer than a burst.
 */
export class IncomingRateLimit {

    readonly #buckets = new WeakMap<WebSocket, Bucket>();

    constructor(private readonly options: IncomingRateOptions) {
    }

    /** Whether the socket may send one more frame now */
    take(socket: WebSocket): boolean {
        const now = Date.now();
        let bucket = this.#buckets.get(socket);
        if (!bucket) {
            bucket = {tokens: this.options.burst, at: now};
            this.#buckets.set(socket, bucket);
        } else {
            bucket.tokens = Math.min(this.options.burst, bucket.tokens + (now - bucket.at) * this.options.perSecond / 1000);
            bucket.at = now;
        }
        if (bucket.tokens < 1) {
            return false;
        }
        bucket.tokens--;
        return true;
    }
}
