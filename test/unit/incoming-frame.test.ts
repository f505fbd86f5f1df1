import {parseIncomingFrame, preview} from '../../src/protocol/incoming-frame';

describe('parseIncomingFrame', () => {
    it('parses JSON text, from a buffer or fragments', () => {
        expect(parseIncomingFrame(Buffer.from('{"a":[1,"ü"]}'), false)).toEqual({ok: true, message: {a: [1, 'ü']}});
        expect(parseIncomingFrame([Buffer.from('{"a"'), Buffer.from(':1}')], false)).toEqual({ok: true, message: {a: 1}});
        expect(parseIncomingFrame(Buffer.from('"keepalive"'), false)).toEqual({ok: true, message: 'keepalive'});
    });

    it('reports binary frames and invalid JSON', () => {
        expect(parseIncomingFrame(Buffer.from('{}'), true)).toEqual({ok: false, problem: expect.stringContaining('binary frames')});
        expect(parseIncomingFrame(Buffer.from('{nope'), false)).toEqual({ok: false, problem: expect.stringContaining('not valid JSON')});
    });
});

describe('preview', () => {
    it('keeps log lines short and on one line', () => {
        expect(preview('a\nb\u0000c')).toBe('a b c');
        const long = preview('x'.repeat(10_000));
        expect(long.length).toBeLessThan(200);
        expect(long).toContain('10000 characters');
    });
});
