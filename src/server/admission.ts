import type {MashroomLogger} from '@mashroom/mashroom/type-definitions';
import type {ReconnectBufferStore} from '../buffer/reconnect-buffer-store';
import type {ServerClient} from '../client/server-client';
import type {ClientRegistry} from './client-registry';
import {CLOSE_TRY_AGAIN_LATER} from '../protocol/wire';
import type {ConnectRequest} from './server-options';

export type AdmissionLimits = {
    readonly maxConnections: number;
    readonly maxConnectionsPerUser: number | null;
};

/** Where an admitted upgrade goes */
export type Route =
    | {readonly kind: 'refused'; readonly outcome: 'full' | 'user-full'}
    /** A new client */
    | {readonly kind: 'new'}
    /** A client known here that it may resume (or take over, if its connection is still held) */
    | {readonly kind: 'existing'; readonly client: ServerClient}
    /** Not known here, but it may wait on another node of the cluster: claim it */
    | {readonly kind: 'claim'; readonly clientId: string};

/** Of these clients, the one that has waited for a reconnect longest (its window ends first), if any waits */
const longestWaiting = (clients: Iterable<ServerClient>): ServerClient | null => {
    let longest: ServerClient | null = null;
    for (const client of clients) {
        const until = client.waitingUntil;
        if (until !== null && (longest === null || until < (longest.waitingUntil ?? Infinity))) {
            longest = client;
        }
    }
    return longest;
};

/**
 * Who may connect and as what: the capacity limits, counted exactly, waiting clients included, and which
 * client a request with `?clientId=` may resume (same user, connect path and protocol). A live connection goes
 * before a waiting client: at a limit, the client that has waited longest (of the user, for the user's limit; of
 * anyone, for the server's) is given up to make room, so that clients that dropped cannot lock anybody out.
 */
export class Admission {

    constructor(
        private readonly clients: ClientRegistry<ServerClient>,
        private readonly limits: AdmissionLimits,
        private readonly store: () => ReconnectBufferStore | null,
        private readonly logger: MashroomLogger,
    ) {
    }

    /**
     * Whether an upgrade could be admitted right now, before knowing who asks: there is room, or it asks to
     * resume a client that is waiting for exactly that (the user is checked later)
     */
    mayAdmit(requestedClientId: string | null): boolean {
        return this.clients.size < this.limits.maxConnections ||
            (requestedClientId !== null && this.clients.get(requestedClientId)?.canResume === true) ||
            longestWaiting(this.clients.values()) !== null;
    }

    /** Synchronous, from the capacity check to the caller's registration: concurrent upgrades never exceed the limits */
    route(connect: ConnectRequest, sequenced: boolean): Route {
        const resumable = this.#findResumable(connect, sequenced);
        if (resumable) {
            return {kind: 'existing', client: resumable};
        }
        const room = this.makeRoomFor(connect.user.username);
        if (room !== 'room') {
            return {kind: 'refused', outcome: room};
        }
        const store = this.store();
        const {requestedClientId} = connect;
        return requestedClientId !== null && !this.clients.get(requestedClientId) && store?.mayHold(requestedClientId) === true
            ? {kind: 'claim', clientId: requestedClientId}
            : {kind: 'new'};
    }

    /** Room for one more client of the user, overall and for the user: a waiting client is given up for it if need be */
    makeRoomFor(username: string): 'room' | 'full' | 'user-full' {
        const {maxConnections, maxConnectionsPerUser} = this.limits;
        if (maxConnectionsPerUser !== null && this.clients.countOfUser(username) >= maxConnectionsPerUser &&
            !this.#giveUp(longestWaiting(this.clients.ofUser(username)), username)) {
            return 'user-full';
        }
        if (this.clients.size >= maxConnections && !this.#giveUp(longestWaiting(this.clients.values()), username)) {
            return 'full';
        }
        return 'room';
    }

    #giveUp(waiting: ServerClient | null, forUser: string): boolean {
        if (!waiting) {
            return false;
        }
        this.logger.info(`Giving up client ${waiting.clientId} of user ${waiting.user.username}, which waits for a reconnect, to make room for a connection of user ${forUser} (connect path ${waiting.connectPath || '/'})`);
        waiting.close(CLOSE_TRY_AGAIN_LATER, 'Given up for a live connection');
        return true;
    }

    /**
     * The client the request may resume: same user, same connect path, same protocol. It may still be connected
     * (its connection lost without a trace, or a second tab with a copied id): see Resumption.takeOver.
     */
    #findResumable(connect: ConnectRequest, sequenced: boolean): ServerClient | null {
        const {requestedClientId, user, connectPath} = connect;
        if (!requestedClientId) {
            return null;
        }
        const client = this.clients.get(requestedClientId);
        let refusal: string | null = null;
        if (!client) {
            if (this.store()?.mayHold(requestedClientId)) {
                // Another node, or the process before this one, may have left it in the store: the claim decides
                return null;
            }
            refusal = 'it is unknown or its reconnect window has passed';
        } else if (client.user.username !== user.username) {
            refusal = 'it belongs to another user';
        } else if (client.connectPath !== connectPath) {
            refusal = `it was connected on ${client.connectPath}`;
        } else if (client.sequenced !== sequenced) {
            refusal = `it ${client.sequenced ? 'spoke' : 'did not speak'} the delivery protocol`;
        }
        if (refusal) {
            const level = client && client.user.username !== user.username ? 'warn' : 'info';
            this.logger[level](`User ${user.username} asked to resume client ${requestedClientId} on ${connectPath}, but ${refusal}: starting a new client`);
            return null;
        }
        return client ?? null;
    }
}
