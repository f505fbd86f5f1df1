/**
 * JSON.stringify for sendMessage, with a TypeError for what has no JSON form (undefined, a function, a
 * symbol) instead of sending "undefined".
 *
 * Deliberately no cache by object identity: a caller that changes an object and sends it again in the same
 * loop (`message.n = i; sendMessage(client, message)`) must get what it sent, as with the original.
 */
export const serializeMessage = (message: unknown): string => {
    const data: string | undefined = JSON.stringify(message);
    if (typeof data !== 'string') {
        throw new TypeError(`A message of type ${typeof message} cannot be sent as JSON`);
    }
    return data;
};
