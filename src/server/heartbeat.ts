import type {MashroomLogger} from '@mashroom/mashroom/type-definitions';
import {KEEP_ALIVE_FRAME} from '../protocol/wire';
import {userAndPath} from '../protocol/client-label';
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
    /** Called with each dead-peer check: for what else is to be done now and then */
    readonly onPeerCheck: () => void;
};

/** The server's timers: the keep-alive message, the dead-peer check, and the pings that ask for acknowledgements */
export class Heartbeat {

    readonly ackRequests: AckScheduler;
    readonly #timers: Array<NodeJS.Timeout> = [];

    constructor(private readonly clients: ClientRegistry<ServerClient>, options: HeartbeatOptions, private readonly logger: MashroomLogger) {
        this.ackRequests = new AckScheduler(options.ackDelayMs);
        if (options.keepAliveIntervalMs !== null) {
            this.#every(options.keepAliveIntervalMs, () => this.#sendKeepAlive());
        }
        this.#every(options.pingIntervalMs, () => {
            this.#checkPeers();
            options.onPeerCheck();
        });
    }

    stop(): void {
        this.#timers.forEach((timer) => clearInterval(timer));
        this.#timers.length = 0;
        this.ackRequests.stop();
    }

    /** To open connections only: a waiting client gets none in its buffer */
    #sendKeepAlive(): void {
        for (const client of this.clients.values()) {
            client.openConnection?.sendUntracked(KEEP_ALIVE_DATA);
        }
    }

    /** A connection that did not answer the last ping is cut off; the others are pinged */
    #checkPeers(): void {
        for (const client of this.clients.values()) {
            const connection = client.connection;
            if (!connection) {
                continue;
            }
            if (!client.alive) {
                this.logger.withContext(client.loggerContext).info(`Client ${client.clientId} did not answer the last ping, terminating its connection${userAndPath(client)}`);
                connection.terminate();
                continue;
            }
            client.alive = false;
            connection.ping();
        }
    }

    #every(intervalMs: number, task: () => void): void {
        const timer = setInterval(task, intervalMs);
        // The plugin must never be what keeps a process alive; stop() clears the timers anyway
        timer.unref();
        this.#timers.push(timer);
    }
}
