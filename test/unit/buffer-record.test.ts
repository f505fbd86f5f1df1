import {createHash} from 'crypto';
import {decodeRecords, encodeRecord} from '../../src/buffer/buffer-record';

describe('buffer records', () => {
    const messages = ['{"greetings":"Hello alice!"}', '"keepalive"', '{"text":"Grüße 🌍"}', ''];

    it('gives back every message of its records, in order', () => {
        expect(decodeRecords(messages.map(encodeRecord))).toEqual(messages);
        expect(decodeRecords([])).toEqual([]);
    });

    it('starts each record with the first 8 hex digits of the SHA-256 of its UTF-8 text, whichever Node.js API made it', () => {
        // Nodes of one cluster, or a process and the one before it, may run different Node.js versions
        for (const message of messages) {
            expect(encodeRecord(message)).toBe(createHash('sha256').update(message, 'utf8').digest('hex').slice(0, 8) + message);
        }
    });

    it('verifies nothing of records of which one is cut short anywhere', () => {
        const records = messages.map(encodeRecord);
        for (let length = 0; length < records[0].length; length++) {
            expect(decodeRecords([records[0].slice(0, length), ...records.slice(1)])).toBeNull();
        }
    });

    it('verifies nothing of records of which one is changed, its length kept', () => {
        const records = messages.map(encodeRecord);
        expect(decodeRecords([records[0].replace('alice', 'elisa'), ...records.slice(1)])).toBeNull();
        expect(decodeRecords([...records.slice(0, 3), `0${records[3].slice(1)}`])).toBeNull();
        // A message stored before records had checksums
        expect(decodeRecords(['{"greetings":"Hello alice!"}'])).toBeNull();
    });
});
