import {randomUUID} from 'crypto';

// Exactly the form randomUUID() produces: anything else in a `clientId` query parameter is not one of ours.
const CLIENT_ID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

export const newClientId = (): string => randomUUID();

export const isClientId = (value: string): boolean => CLIENT_ID_PATTERN.test(value);
