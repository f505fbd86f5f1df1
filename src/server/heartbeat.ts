import {KEEP_ALIVE_FRAME} from '../protocol/wire';
import {AckScheduler} from './ack-scheduler';
import type {ClientRegistry} from './client-registry';
import type {ServerClient} from '../client/server-client';

// Prepared once: a sweep over thousands of clients allocates nothing for the message itself
const KEEP_ALIVE_DATA = Buffer.from(KEEP_ALIVE_FRAME);

export type HeartbeatOptions = {
    /** Interval of the "keepalive" message, or null for none */
    readonly keepAliveIntervalMs: number | null;
    /** Interval of the dead-peer check */
    readonly pingIntervalMs: number;
    /** How soon after sending a client is pinged for an acknowledgement */
    readonly ackDelayMs: number;
};

/** The server's timers: the keep-alive message, the dead-peer check, and the pings that ask for acknowledgements */
export class Heartbeat {

    readonly ackRequests: AckScheduler;
    readonly #timers: Array<NodeJS.Timeout> = [];

    constructor(private readonly clients: ClientRegistry<ServerClient>, options: HeartbeatOptions) {
        this.ackRequests = new AckScheduler(options.ackDelayMs);
        if (options.keepAliveIntervalMs !== null) {
            this.#every(options.keepAliveIntervalMs, () => this.#sendKeepAlive());
        }
        this.#every(options.pingIntervalMs, () => this.#checkPeers());
    }

    stop(): void {
        this.#timers.forEach((timer) => clearInterval(timer));
        this.#timers.length = 0;
        this.ackRequests.stop();
    }

    #sendKeepAlive(): void {
        for (const client of this.clients.values()) {
            client.keepAlive(KEEP_ALIVE_DATA);
        }
    }

    #checkPeers(): void {
        for (const client of this.clients.values()) {
            client.checkAlive();
        }
    }

    #every(intervalMs: number, task: () => void): void {
        const timer = setInterval(task, intervalMs);
        // The plugin must never be what keeps a process alive; stop() clears the timers anyway
        timer.unref();
        this.#timers.push(timer);
    }
}
