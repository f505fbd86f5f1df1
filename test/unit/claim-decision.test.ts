import {BufferLostError} from '../../src/buffer/reconnect-buffer-store';
import type {ClaimedBuffer} from '../../src/buffer/reconnect-buffer-store';
import {decideClaim} from '../../src/client/claim-decision';
import type {ClaimFacts} from '../../src/client/claim-decision';
import {envelope} from '../../src/protocol/delivery-envelope';

const facts = (overrides: Partial<ClaimFacts> = {}): ClaimFacts => ({
    clientId: 'c1',
    fromElsewhere: false,
    attached: true,
    lastSeq: null,
    clientHas: null,
    overflow: null,
    ...overrides,
});
const claimed = (messages: Array<string>, lastSeq = 0): {ok: true; claimed: ClaimedBuffer} =>
    ({ok: true, claimed: {messages, recorded: messages.length, session: {username: 'alice', connectPath: '/p', sequenced: lastSeq > 0, lastSeq}}});
const CANNOT_RESUME = expect.objectContaining({level: 'warn', message: expect.stringContaining('Client c1 cannot resume (its reconnect buffer is incomplete')});

describe('decideClaim', () => {
    it('replays a plain client\'s buffer as it is', () => {
        expect(decideClaim(facts(), claimed(['{"a":1}', '{"a":2}']))).toEqual({kind: 'replay', frames: ['{"a":1}', '{"a":2}'], lastSeq: null});
    });

    it('replays to a client of the delivery protocol only what comes after what it has', () => {
        const frames = [1, 2, 3].map((seq) => envelope(seq, `{"n":${seq}}`));
        expect(decideClaim(facts({lastSeq: 3, clientHas: 1}), claimed(frames))).toEqual({kind: 'replay', frames: frames.slice(1), lastSeq: 3});
    });

    it('gives up a client that says it has more than was ever numbered for it, and says why', () => {
        const decision = decideClaim(facts({lastSeq: 3, clientHas: 7}), claimed([]));
        expect(decision).toEqual({kind: 'give-up', known: true, log: [
            {level: 'warn', message: 'Client c1 says it has message 7, but only 3 were sent: it cannot resume'},
            CANNOT_RESUME,
        ]});
    });

    it('numbers a client of another node on from what that node numbered, whichever says more', () => {
        const frames = [envelope(8, '1'), envelope(9, '2')];
        expect(decideClaim(facts({fromElsewhere: true, lastSeq: 0}), claimed(frames, 5))).toMatchObject({kind: 'replay', lastSeq: 9});
        expect(decideClaim(facts({fromElsewhere: true, lastSeq: 0}), claimed([], 12))).toMatchObject({kind: 'replay', lastSeq: 12});
        // A local claim keeps its own numbering
        expect(decideClaim(facts({lastSeq: 4}), claimed(frames, 12))).toMatchObject({kind: 'replay', lastSeq: 4});
    });

    it('lets a client of another node claimed with no connection waiting wait here', () => {
        expect(decideClaim(facts({fromElsewhere: true, attached: false, lastSeq: 0}), claimed([envelope(3, '1')], 2))).toEqual({kind: 'wait', lastSeq: 3});
    });

    it('gives up a client whose buffer is gone or incomplete, as one that existed here', () => {
        expect(decideClaim(facts(), {ok: true, claimed: null})).toEqual({kind: 'give-up', known: true, log: [CANNOT_RESUME]});
        // Why it is lost is said
        expect(decideClaim(facts(), {ok: false, error: new BufferLostError('c1', 'cut short')})).toEqual({kind: 'give-up', known: true, log: [
            {level: 'warn', message: 'The reconnect buffer of client c1 was lost: cut short'}, CANNOT_RESUME,
        ]});
    });

    it('makes nothing up of a client of another node that nobody holds, or whose claim failed', () => {
        // Said, or the connection would look like any new one; the client never existed here
        expect(decideClaim(facts({fromElsewhere: true}), {ok: true, claimed: null})).toEqual({kind: 'give-up', known: false, log: [
            {level: 'info', message: 'Client c1 cannot be resumed: the shared store does not hold it (its reconnect window passed, another node resumed it, or it never was); the connection gets a new client'},
        ]});
        expect(decideClaim(facts({fromElsewhere: true, attached: false}), {ok: true, claimed: null})).toEqual({kind: 'give-up', known: false, log: []});
        const error = new Error('connection lost');
        expect(decideClaim(facts({fromElsewhere: true}), {ok: false, error})).toEqual({kind: 'give-up', known: false, log: [
            {level: 'error', message: 'Claiming client c1 from another node failed', error},
        ]});
    });

    it('retries a local buffer that could not be read', () => {
        const error = new Error('EIO');
        expect(decideClaim(facts(), {ok: false, error})).toEqual({kind: 'retry', log: [
            {level: 'error', message: 'Reading the reconnect buffer of client c1 failed; closing so that it retries', error},
        ]});
    });

    it('gives up a client for which a message was refused while its buffer was read, attached or not', () => {
        const overflow = new Error('too much');
        expect(decideClaim(facts({overflow}), claimed(['1']))).toEqual({kind: 'give-up', known: true, log: [CANNOT_RESUME]});
        expect(decideClaim(facts({fromElsewhere: true, attached: false, overflow}), claimed(['1']))).toEqual({kind: 'give-up', known: true, log: [
            {level: 'warn', message: 'Client c1 cannot resume in full and is removed (a reconnect gets a new clientId): too much'},
        ]});
    });
});
