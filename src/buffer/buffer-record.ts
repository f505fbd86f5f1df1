import {createHash} from 'crypto';

/*
 * A message as a reconnect buffer keeps it: the first CHECK_LENGTH characters are a checksum of the rest. A record
 * cut short (a file cut in the middle of its last line) or changed (a garbled line) no longer verifies, and a
 * buffer with such a record is lost as a whole: a replay is all of it or nothing.
 */

const CHECK_LENGTH = 8;

const checkOf = (message: string): string => createHash('sha256').update(message, 'utf8').digest('hex').slice(0, CHECK_LENGTH);

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
