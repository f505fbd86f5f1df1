import {BufferLostError} from '../buffer/reconnect-buffer-store';
import {seqOfEnvelope} from '../protocol/delivery-envelope';
import type {ClaimResult} from './client-state';

export type LogLine = {
    readonly level: 'info' | 'warn' | 'error';
    readonly message: string;
    readonly error?: unknown;
};

/** What becomes of a client once the claim of its reconnect buffer has settled */
export type ClaimDecision =
    /** Replay the frames to the connection that waits for them */
    | {readonly kind: 'replay'; readonly frames: ReadonlyArray<string>; readonly lastSeq: number | null}
    /** Wait here for a connection (a client of another node, claimed while none waited) */
    | {readonly kind: 'wait'; readonly lastSeq: number | null}
    /** It cannot resume in full: close it (a connection that waits is served as a new client) */
    | {readonly kind: 'give-up'; readonly known: boolean; readonly log: ReadonlyArray<LogLine>}
    /** The buffer could not be read: close the connection so that it tries again; the client waits */
    | {readonly kind: 'retry'; readonly log: ReadonlyArray<LogLine>};

export type ClaimFacts = {
    readonly clientId: string;
    /** Claimed from the shared store for a client of another node: it does not exist here unless the claim succeeds */
    readonly fromElsewhere: boolean;
    /** Whether a connection waits for the claim */
    readonly attached: boolean;
    /** The number of its last message here (delivery protocol), or null */
    readonly lastSeq: number | null;
    /** What the waiting connection says it has (delivery protocol), or null */
    readonly clientHas: number | null;
    /** Why a message sent during the claim was refused, if one was: then what was held is not all there was */
    readonly overflow: Error | null;
};

/**
 * The rules of a resume, in one place and without side effects: no partial replay, and a client of another node
 * exists here only once its claim succeeded. docs/ARCHITECTURE.md, "Resume", shows where they apply.
 */
export const decideClaim = (facts: ClaimFacts, result: ClaimResult): ClaimDecision => {
    const {clientId, fromElsewhere, attached} = facts;
    const cannotResume: LogLine = {level: 'warn', message: `Client ${clientId} cannot resume (its reconnect buffer is incomplete or was claimed by another node, or it does not match what the client has): the connection gets a new client`};
    const giveUp = (known: boolean, ...log: Array<LogLine>): ClaimDecision =>
        ({kind: 'give-up', known, log: known && attached ? [...log, cannotResume] : log});
    if (!result.ok) {
        if (fromElsewhere) {
            // Whether another node holds it is unknown: a waiting connection starts afresh
            return giveUp(false, {level: 'error', message: `Claiming client ${clientId} from another node failed`, error: result.error});
        }
        if (result.error instanceof BufferLostError) {
            return giveUp(true, {level: 'warn', message: result.error.message});
        }
        return {kind: 'retry', log: [{level: 'error', message: `Reading the reconnect buffer of client ${clientId} failed; closing so that it retries`, error: result.error}]};
    }
    const {claimed} = result;
    if (!claimed) {
        // Nobody resumes a client of another node any more that nobody holds: it never existed here. Said all the
        // same, or the connection would look like any new one
        return fromElsewhere && attached
            ? giveUp(false, {level: 'info', message: `Client ${clientId} cannot be resumed: the shared store does not hold it (its reconnect window passed, another node resumed it, or it never was); the connection gets a new client`})
            : giveUp(!fromElsewhere);
    }
    const lastSeq = fromElsewhere && facts.lastSeq !== null
        // Numbering goes on where the node that had the client left it
        ? Math.max(facts.lastSeq, claimed.session?.lastSeq ?? 0, lastSeqIn(claimed.messages))
        : facts.lastSeq;
    if (facts.overflow) {
        return attached ? giveUp(true) : giveUp(true, {level: 'warn', message: `Client ${clientId} cannot resume in full and is removed (a reconnect gets a new clientId): ${facts.overflow.message}`});
    }
    if (!attached) {
        return {kind: 'wait', lastSeq};
    }
    const {clientHas} = facts;
    if (lastSeq === null || clientHas === null) {
        return {kind: 'replay', frames: claimed.messages, lastSeq};
    }
    if (clientHas > lastSeq) {
        // The two do not agree: start afresh rather than let the client drop what comes as duplicates
        return giveUp(true, {level: 'warn', message: `Client ${clientId} says it has message ${clientHas}, but only ${lastSeq} were sent: it cannot resume`});
    }
    return {kind: 'replay', frames: claimed.messages.filter((frame) => (seqOfEnvelope(frame) ?? Infinity) > clientHas), lastSeq};
};

/** The number of the last message in a buffer of the delivery protocol, 0 if it has none */
const lastSeqIn = (frames: ReadonlyArray<string>): number =>
    frames.length > 0 ? seqOfEnvelope(frames[frames.length - 1]) ?? 0 : 0;
