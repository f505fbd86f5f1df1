/**
 * The wire form of a whole, unmasked text frame as a server sends it (RFC 6455, section 5.2): FIN and opcode 1,
 * the payload length in 7, 7 + 16 or 7 + 64 bits, then the payload. Unmasked, the frame of a text is the same
 * bytes for every client.
 */

const FIN_AND_TEXT = 0x81;
const LENGTH_16 = 126;
const LENGTH_64 = 127;

/** The frame of `text`, header and UTF-8 payload in one buffer */
export const encodeTextFrame = (text: string): Buffer => {
    const length = Buffer.byteLength(text);
    const headerLength = length < LENGTH_16 ? 2 : length < 0x10000 ? 4 : 10;
    const frame = Buffer.allocUnsafe(headerLength + length);
    frame[0] = FIN_AND_TEXT;
    if (length < LENGTH_16) {
        frame[1] = length;
    } else if (length < 0x10000) {
        frame[1] = LENGTH_16;
        frame.writeUInt16BE(length, 2);
    } else {
        frame[1] = LENGTH_64;
        // No string reaches 2^48 bytes: the two highest bytes are 0
        frame.writeUInt16BE(0, 2);
        frame.writeUIntBE(length, 4, 6);
    }
    // The buffer is not zeroed: should the count and the encoding ever disagree, no stale memory may go out
    if (frame.write(text, headerLength) !== length) {
        throw new Error(`The UTF-8 encoding of a text did not take the ${length} bytes counted for it`);
    }
    return frame;
};
