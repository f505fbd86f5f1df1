import {envelope, parseClientEnvelope, seqOfEnvelope} from '../../src/protocol/delivery-envelope';

describe('delivery protocol', () => {
    it('wraps a serialised message without serialising it again, and reads the seq back', () => {
        const frame = envelope(42, '{"a":[1,"x"]}');
        expect(JSON.parse(frame)).toEqual({type: 'message', seq: 42, payload: {a: [1, 'x']}});
        expect(seqOfEnvelope(frame)).toBe(42);
        expect(seqOfEnvelope('{"a":1}')).toBeNull();
        expect(seqOfEnvelope(JSON.stringify({type: 'setClientId', payload: 'x'}))).toBeNull();
    });

    it('reads the envelopes of the client', () => {
        expect(parseClientEnvelope({type: 'message', payload: {x: 1}})).toEqual({kind: 'message', payload: {x: 1}});
        expect(parseClientEnvelope({type: 'message', payload: null})).toEqual({kind: 'message', payload: null});
        expect(parseClientEnvelope({type: 'ack', seq: 7})).toEqual({kind: 'ack', seq: 7});
        for (const invalid of [null, 'x', [1], {type: 'ack', seq: -1}, {type: 'ack', seq: 1.5}, {type: 'ack'}, {type: 'message'}, {type: 'other'}, {}]) {
            expect(parseClientEnvelope(invalid)).toMatchObject({kind: 'invalid'});
        }
    });
});
