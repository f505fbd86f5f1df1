import type WebSocket from 'ws';
import type {MashroomSecurityUser} from '@mashroom/mashroom-security/type-definitions';
import type {MashroomWebSocketClient} from '../../type-definitions';
import type {ClientConnection, ConnectionOwner, ProbeOutcome} from '../transport/connection';
import type {ClientHost} from './client-host';
import {ClientLifecycle} from './client-lifecycle';
import type {LostOutcome, Release, Start} from './client-lifecycle';
import type {ClientState, ResumeOutcome} from './client-state';

export type {LostOutcome};

/**
 * One client as the plugins see it: the public fields, which plugins read and log, and the object itself, which
 * they keep as a key (the messaging plugin keeps its subscriptions per client object), so it lives as long as
 * the client, across reconnects. Its lifecycle is behind a private field, out of logs, JSON and the plugins'
 * reach; the server drives it through the methods here.
 */
export class ServerClient implements MashroomWebSocketClient, ConnectionOwner {

    alive = false;
    readonly #lifecycle: ClientLifecycle;

    private constructor(
        host: ClientHost,
        readonly connectPath: string,
        readonly user: MashroomSecurityUser,
        readonly loggerContext: Readonly<Record<string, unknown>>,
        readonly clientId: string,
        sequenced: boolean,
        start: Start,
    ) {
        this.#lifecycle = new ClientLifecycle(this, host, sequenced, start);
    }

    /** A client that connected just now on `socket` */
    static connected(host: ClientHost, socket: WebSocket, connectPath: string, user: MashroomSecurityUser,
        loggerContext: Readonly<Record<string, unknown>>, clientId: string, sequenced: boolean): ServerClient {
        return new ServerClient(host, connectPath, user, loggerContext, clientId, sequenced, {kind: 'connected', socket});
    }

    /** A client that dropped from another node of the cluster: claimed from the shared store now, resumed with `resume` */
    static fromElsewhere(host: ClientHost, connectPath: string, user: MashroomSecurityUser,
        loggerContext: Readonly<Record<string, unknown>>, clientId: string, sequenced: boolean): ServerClient {
        return new ServerClient(host, connectPath, user, loggerContext, clientId, sequenced, {kind: 'elsewhere'});
    }

    get state(): ClientState['kind'] {
        return this.#lifecycle.current.kind;
    }

    /** The connection it is served on, if any */
    get connection(): ClientConnection | null {
        return this.#lifecycle.connection;
    }

    /** Whether it waits for a connection to resume it */
    get canResume(): boolean {
        const {kind} = this.#lifecycle.current;
        return kind === 'waiting' || kind === 'claiming';
    }

    /** Whether the client speaks the delivery protocol */
    get sequenced(): boolean {
        return this.#lifecycle.lastSeq !== null;
    }

    /** Whether this is a client of that host and not closed, i.e. registered there (a closed client never is) */
    isServedBy(host: ClientHost): boolean {
        return this.#lifecycle.host === host && this.#lifecycle.current.kind !== 'closed';
    }

    send(data: string): Promise<void> {
        return this.#lifecycle.send(data);
    }

    /** Its socket closed (or is given up): it waits for a reconnect, or is closed without buffering */
    connectionLost(connection: ClientConnection): LostOutcome {
        return this.#lifecycle.connectionLost(connection);
    }

    /** A new connection takes over the waiting client: the sequence is in docs/ARCHITECTURE.md, "Resume" */
    resume(socket: WebSocket, clientHas: number | null): Promise<ResumeOutcome> {
        return this.#lifecycle.resume(socket, clientHas);
    }

    /** Whether its connection is alive (see Connection.probe); 'gone' without one */
    probe(timeoutMs: number): Promise<ProbeOutcome> {
        return this.connection?.probe(timeoutMs) ?? Promise.resolve('gone');
    }

    /** Closed for good, its connection (if any) with the given code */
    close(code: number, reason: string): void {
        const release: Release = {code, reason};
        this.#lifecycle.close(release);
    }

    /** Another node of the cluster claimed it while it waited here. False if it was not waiting */
    resumedElsewhere(): boolean {
        return this.#lifecycle.resumedElsewhere();
    }

    /** Resolves when every buffer operation asked for so far has finished */
    buffered(): Promise<void> {
        return this.#lifecycle.buffered();
    }

    /** Its setClientId */
    idFrame(): string {
        return this.#lifecycle.idFrame();
    }
}
