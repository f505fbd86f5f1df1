import {LIBRARY_ACK_AFTER_CHARS} from '../protocol/wire';
import type {AckTracker} from './ack-tracker';
import type {MemoryBudget} from './memory-budget';

/** The limits of one server that decide when a client is too slow */
export type FlowLimits = {
    /** Backlog of unsent bytes beyond which a client is too slow */
    readonly maxUnsentBytes: number;
    /** Largest reconnect buffer of one client: what may be in flight unacknowledged is bounded by it */
    readonly bufferMaxBytes: number;
};

export type AckVerdict =
    /** Ping: frames were sent that no ping asked about yet */
    | {readonly kind: 'ping'}
    /** Nothing to do */
    | {readonly kind: 'wait'}
    /** Close it as too slow, while what it has not got still fits into its reconnect buffer */
    | {readonly kind: 'too-slow'; readonly why: string};

/**
 * What may be in flight unacknowledged: it all goes into the reconnect buffer on a drop, together with what is held
 * back while closing (up to maxUnsentBytes), so it must leave room for that
 */
const maxUnacknowledgedBytes = ({bufferMaxBytes, maxUnsentBytes}: FlowLimits): number =>
    Math.max(bufferMaxBytes - 2 * maxUnsentBytes, bufferMaxBytes / 4);

/** The same for a client that reads (nothing piles up unsent) but acknowledges later */
const maxReadUnacknowledgedBytes = ({bufferMaxBytes, maxUnsentBytes}: FlowLimits): number =>
    Math.max(bufferMaxBytes - maxUnsentBytes, bufferMaxBytes / 2);

/**
 * A client that has not answered the last ping while more is unread than its reconnect buffer could take on a
 * drop is not reading; a client of the delivery protocol (`sequenced`) that has read messages it does not
 * acknowledge is too slow before its unacknowledged messages outgrow the buffer. Both judge what was sent after
 * the replay of a resume, against limits that shrink by what of the replay is still unacknowledged, but never
 * below an eighth of the buffer (docs/ARCHITECTURE.md, "Flow control").
 */
export const judgeAcknowledgements = (acks: AckTracker, limits: FlowLimits, sequenced: boolean): AckVerdict => {
    const replayed = acks.unackedBytes - acks.unackedBytesBeyondReplay;
    const floor = limits.bufferMaxBytes / 8;
    if (acks.awaitingPong && acks.unreadBytesBeyondReplay > Math.max(maxUnacknowledgedBytes(limits) - replayed, floor)) {
        return {kind: 'too-slow', why: `${acks.unreadBytesBeyondReplay} bytes sent and not read, more than would fit into its reconnect buffer`};
    }
    if (sequenced && acks.readUnackedBytesBeyondReplay > 0 && acks.unackedBytesBeyondReplay > Math.max(maxReadUnacknowledgedBytes(limits) - replayed, floor)) {
        return {kind: 'too-slow', why: `${acks.unackedBytesBeyondReplay} bytes sent and not acknowledged, more than would fit into its reconnect buffer`};
    }
    return acks.needsPing ? {kind: 'ping'} : {kind: 'wait'};
};

/**
 * After how many characters a client of the delivery protocol is asked to acknowledge at once: well before it gets
 * near what it may leave unacknowledged (an eighth of it, in characters of up to 3 bytes each), at most what the
 * library does anyway
 */
export const ackAfterChars = (limits: FlowLimits): number =>
    Math.max(1, Math.min(LIBRARY_ACK_AFTER_CHARS, Math.floor(maxReadUnacknowledgedBytes(limits) / 8)));

/** A connection as the memory budget judges it */
type ShareHolder = {
    readonly behindBytes: number;
    readonly writable: boolean;
    closeAsTooSlow(why: string): void;
};

/** While the memory budget is exceeded, a connection sent to is closed (1013) when it is behind by more than an equal share */
export const closeIfOverShare = (memory: MemoryBudget, connection: ShareHolder): void => {
    if (memory.shareLimit !== Infinity && connection.writable) {
        const behind = connection.behindBytes;
        if (behind > memory.shareLimit) {
            connection.closeAsTooSlow(`${behind} bytes behind, more than an equal share of memoryBudgetBytes (${memory.maxBytes}), which is exceeded`);
        }
    }
};

/**
 * Why a closing connection is cut off at once, or null: `heldBack` bytes were sent to it since it began to close, and
 * `unsent` bytes have not left the process. Over the memory budget, one whose close frame has not even left the
 * process (it has not read what the operating system holds for it) would not read it in time either: what it holds
 * goes to its buffer now, not after the close grace.
 */
export const cutOffReason = (heldBack: number, unsent: number, {maxUnsentBytes, memory}: FlowLimits & {readonly memory: MemoryBudget}): string | null => {
    if (heldBack > maxUnsentBytes) {
        return `more than maxUnsentBytesPerClient (${maxUnsentBytes}) is held for it`;
    }
    return memory.isExceeded && unsent > 0 ? `the memory budget (memoryBudgetBytes ${memory.maxBytes}) is exceeded` : null;
};
