import {CLOSE_INTERNAL_ERROR} from '../protocol/wire';
import {decideClaim} from './claim-decision';
import type {Claim, ClaimResult} from './client-state';
import type {ClientLifecycle} from './client-lifecycle';

/**
 * The claim of a client's reconnect buffer has settled: if it is still the claim of the client's state, decide
 * (see claim-decision.ts) and carry the decision out. Whatever fails on the way closes the client (1011): a
 * half-done resume must not leave it resuming with its messages piling up.
 */
export const settleClaim = (lifecycle: ClientLifecycle, claim: Claim, result: ClaimResult): void => {
    try {
        carryOut(lifecycle, claim, result);
    } catch (error) {
        lifecycle.fail(error);
    }
};

const carryOut = (lifecycle: ClientLifecycle, claim: Claim, result: ClaimResult): void => {
    const state = lifecycle.current;
    if ((state.kind !== 'resuming' && state.kind !== 'claiming') || state.claim !== claim) {
        // The connection that asked went away (the buffer is untouched and the client waits again), or it was closed
        return;
    }
    const {host, client} = lifecycle;
    const {clientId} = client;
    const decision = decideClaim({
        clientId,
        fromElsewhere: claim.fromElsewhere,
        attached: state.kind === 'resuming',
        lastSeq: lifecycle.lastSeq,
        clientHas: state.kind === 'resuming' ? state.clientHas : null,
        overflow: state.held.overflow,
    }, result);
    const logger = host.logger(client);
    if (decision.kind === 'give-up' || decision.kind === 'retry') {
        decision.log.forEach(({level, message, error}) => (error === undefined ? logger[level](message) : logger[level](message, error)));
    }
    const store = host.bufferStore;
    if (decision.kind === 'give-up') {
        // No partial replay: a connection that waits is served as a new client
        if (state.kind === 'resuming') {
            state.outcome.settle({kind: 'fresh', socket: state.connection.socket});
        }
        lifecycle.close('hand-over', decision.known);
    } else if (decision.kind === 'retry') {
        const release = {code: CLOSE_INTERNAL_ERROR, reason: 'Reconnect buffer unavailable'};
        if (state.kind === 'resuming') {
            state.outcome.settle({kind: 'retry'});
        }
        if (store?.available) {
            lifecycle.wait(store, 'connection', release);
        } else {
            lifecycle.close(release);
        }
    } else if (decision.kind === 'wait' || state.kind === 'claiming') {
        // Ours now, and it waits here: the claimed messages stay in the store, what was held follows them
        if (store) {
            lifecycle.wait(store, 'claim', 'gone', decision.lastSeq);
        } else {
            lifecycle.close('gone');
        }
    } else {
        lifecycle.resumed(state, decision.frames, decision.lastSeq);
        if (claim.fromElsewhere) {
            logger.info(`Client ${clientId} resumed here after it dropped from another node`);
        }
        logger.info(`Client ${clientId} resumed, ${decision.frames.length} buffered message(s) replayed`);
    }
};
