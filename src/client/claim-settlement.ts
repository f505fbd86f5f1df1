import type {ReconnectBufferStore} from '../buffer/reconnect-buffer-store';
import {CLOSE_INTERNAL_ERROR} from '../protocol/wire';
import {userAndPath} from '../protocol/client-label';
import {decideClaim} from './claim-decision';
import type {ClientHost} from './client-host';
import type {Claim, ClaimResult, ClientState, Release, Resuming} from './client-state';
import type {ServerClient} from './server-client';

/** What the settlement of a claim may do to its client: its state and the transitions of a resume, lent for the claim */
export type ClaimTarget = {
    readonly client: ServerClient;
    readonly host: ClientHost;
    state(): ClientState;
    lastSeq(): number | null;
    close(release: Release, known: boolean): void;
    wait(store: ReconnectBufferStore, from: 'connection' | 'claim', release: Release, lastSeq?: number | null): void;
    resumed(state: Resuming, frames: ReadonlyArray<string>, lastSeq: number | null): void;
    fail(error: unknown): void;
};

/**
 * The claim of a client's reconnect buffer has settled: if it is still the claim of the client's state, decide
 * (see claim-decision.ts) and carry the decision out. Whatever fails on the way closes the client (1011): a
 * half-done resume must not leave it resuming with its messages piling up.
 */
export const settleClaim = (target: ClaimTarget, claim: Claim, result: ClaimResult): void => {
    try {
        carryOut(target, claim, result);
    } catch (error) {
        target.fail(error);
    }
};

const carryOut = (target: ClaimTarget, claim: Claim, result: ClaimResult): void => {
    const state = target.state();
    if ((state.kind !== 'resuming' && state.kind !== 'claiming') || state.claim !== claim) {
        // The connection that asked went away (the buffer is untouched and the client waits again), or it was closed
        return;
    }
    const {host, client} = target;
    const {clientId} = client;
    const decision = decideClaim({
        clientId,
        fromElsewhere: claim.fromElsewhere,
        attached: state.kind === 'resuming',
        lastSeq: target.lastSeq(),
        clientHas: state.kind === 'resuming' ? state.clientHas : null,
        overflow: state.held.overflow,
    }, result);
    const logger = host.logger(client);
    if (decision.kind === 'give-up' || decision.kind === 'retry') {
        decision.log.forEach(({level, message, error}) => (error === undefined ? logger[level](`${message}${userAndPath(client)}`) : logger[level](`${message}${userAndPath(client)}`, error)));
    }
    const store = host.bufferStore;
    if (decision.kind === 'give-up') {
        // No partial replay: a connection that waits is served as a new client
        if (state.kind === 'resuming') {
            state.outcome.settle({kind: 'fresh', socket: state.connection.socket});
        }
        target.close('hand-over', decision.known);
    } else if (decision.kind === 'retry') {
        const release = {code: CLOSE_INTERNAL_ERROR, reason: 'Reconnect buffer unavailable'};
        if (state.kind === 'resuming') {
            state.outcome.settle({kind: 'retry'});
        }
        if (store?.available) {
            target.wait(store, 'connection', release);
        } else {
            target.close(release, true);
        }
    } else if (decision.kind === 'wait' || state.kind === 'claiming') {
        // Ours now, and it waits here: the claimed messages stay in the store, what was held follows them
        if (store) {
            target.wait(store, 'claim', 'gone', decision.lastSeq);
        } else {
            target.close('gone', true);
        }
    } else {
        target.resumed(state, decision.frames, decision.lastSeq);
        if (claim.fromElsewhere) {
            logger.info(`Client ${clientId} resumed from ${store?.description ?? 'the store'}, where another node or the previous process left it${userAndPath(client)}`);
        }
        logger.info(`Client ${clientId} resumed, ${decision.frames.length} buffered message(s) replayed${userAndPath(client)}`);
    }
};
