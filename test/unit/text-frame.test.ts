import {encodeTextFrame} from '../../src/transport/text-frame';

describe('encodeTextFrame', () => {
    it('writes FIN, the text opcode and the payload length in the shortest of the three forms, unmasked', () => {
        expect([...encodeTextFrame('hi')]).toEqual([0x81, 2, 0x68, 0x69]);
        expect([...encodeTextFrame('')]).toEqual([0x81, 0]);
        expect([...encodeTextFrame('a'.repeat(125)).subarray(0, 2)]).toEqual([0x81, 125]);
        expect([...encodeTextFrame('a'.repeat(126)).subarray(0, 4)]).toEqual([0x81, 126, 0, 126]);
        expect([...encodeTextFrame('a'.repeat(0xffff)).subarray(0, 4)]).toEqual([0x81, 126, 0xff, 0xff]);
        expect([...encodeTextFrame('a'.repeat(0x10000)).subarray(0, 10)]).toEqual([0x81, 127, 0, 0, 0, 0, 0, 1, 0, 0]);
    });

    it('counts the payload in UTF-8 bytes, not characters', () => {
        const frame = encodeTextFrame('ü😀');
        expect(frame[1]).toBe(6);
        expect(frame.subarray(2).toString('utf8')).toBe('ü😀');
        expect(frame.length).toBe(8);
    });

    it('refuses to hand out a frame whose payload was not written in full (its buffer is not zeroed)', () => {
        const write = jest.spyOn(Buffer.prototype, 'write').mockReturnValueOnce(1);
        try {
            expect(() => encodeTextFrame('abc')).toThrow('did not take the 3 bytes');
        } finally {
            write.mockRestore();
        }
    });
});
