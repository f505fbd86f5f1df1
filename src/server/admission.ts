import type {MashroomLogger} from '@mashroom/mashroom/type-definitions';
import type {ReconnectBufferStore} from '../buffer/reconnect-buffer-store';
import type {ServerClient} from '../client/server-client';
import type {ClientRegistry} from './client-registry';
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

/**
 * Who may connect and as what: the capacity limits, counted exactly, waiting clients included, and which
 * client a request with `?clientId=` may resume (same user, connect path and protocol).
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
            (requestedClientId !== null && this.clients.get(requestedClientId)?.canResume === true);
    }

    /** Synchronous, from the capacity check to the caller's registration: concurrent upgrades never exceed the limits */
    route(connect: ConnectRequest, sequenced: boolean): Route {
        const resumable = this.#findResumable(connect, sequenced);
        if (resumable) {
            return {kind: 'existing', client: resumable};
        }
        if (this.clients.size >= this.limits.maxConnections) {
            return {kind: 'refused', outcome: 'full'};
        }
        if (!this.hasRoomFor(connect.user.username)) {
            return {kind: 'refused', outcome: 'user-full'};
        }
        const store = this.store();
        const {requestedClientId} = connect;
        return requestedClientId !== null && !this.clients.get(requestedClientId) && store?.mayHold(requestedClientId) === true
            ? {kind: 'claim', clientId: requestedClientId}
            : {kind: 'new'};
    }

    /** Room for one more client, overall and for the user */
    hasRoomFor(username: string): boolean {
        const {maxConnections, maxConnectionsPerUser} = this.limits;
        return this.clients.size < maxConnections && (maxConnectionsPerUser === null || this.clients.countOfUser(username) < maxConnectionsPerUser);
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
