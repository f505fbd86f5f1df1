import * as crypto from 'crypto';

/*
 * A message as a reconnect buffer keeps it: the first CHECK_LENGTH characters are a checksum of the rest. A record
 * cut short (a file cut in the middle of its last line) or changed (a garbled line) no longer verifies, and a
 * buffer with such a record is lost as a whole: a replay is all of it or nothing.
 */

const CHECK_LENGTH = 8;

type OneShotHash = (algorithm: string, data: string) => string;
// crypto.hash (Node 20.12 and later) does in one call what createHash does with an object per message, in a third of
// the time (a reconnect storm checks every buffered message twice); both give the same hex digest of the UTF-8 text
const oneShot = (crypto as {hash?: OneShotHash}).hash;
const sha256Hex: (text: string) => string = oneShot
    ? (text) => oneShot('sha256', text)
    : (text) => crypto.createHash('sha256').update(text, 'utf8').digest('hex');

const checkOf = (message: string): string => sha256Hex(message).slice(0, CHECK_LENGTH);

export const encodeRecord = (message: string): string => checkOf(message) + message;

/** The messages of these records, or null if any of them does not verify */
export const decodeRecords = (records: ReadonlyArray<string>): Array<string> | null => {
    const messages: Array<string> = [];
    for (const record of records) {
        const message = record.slice(CHECK_LENGTH);
        if (record.length < CHECK_LENGTH || checkOf(message) !== record.slice(0, CHECK_LENGTH)) {
            return null;
        }
        messages.push(message);
    }
    return messages;
};

/** What a record adds to the size of its message */
export const RECORD_OVERHEAD = CHECK_LENGTH;
