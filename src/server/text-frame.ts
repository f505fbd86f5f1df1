/**
 * The wire form of a whole, unmasked text frame as a server sends it (RFC 6455, section 5.2): FIN and opcode 1,
 * the payload length in 7, 7 + 16 or 7 + 64 bits, then the payload.
 */

const FIN_AND_TEXT = 0x81;
const LENGTH_16 = 126;
const LENGTH_64 = 127;

/** Bytes of the frame of a payload of this many bytes */
export const textFrameLength = (payloadLength: number): number =>
    payloadLength + (payloadLength < LENGTH_16 ? 2 : payloadLength < 0x10000 ? 4 : 10);

/** Write the frame of `payload` into `target` at `offset`; returns the offset after it */
export const writeTextFrame = (target: Buffer, offset: number, payload: Buffer): number => {
    const length = payload.length;
    target[offset] = FIN_AND_TEXT;
    if (length < LENGTH_16) {
        target[offset + 1] = length;
        offset += 2;
    } else if (length < 0x10000) {
        target[offset + 1] = LENGTH_16;
        target.writeUInt16BE(length, offset + 2);
        offset += 4;
    } else {
        target[offset + 1] = LENGTH_64;
        // No Buffer reaches 2^48 bytes: the two highest bytes are 0
        target.writeUInt16BE(0, offset + 2);
        target.writeUIntBE(length, offset + 4, 6);
        offset += 10;
    }
    payload.copy(target, offset);
    return offset + length;
};
