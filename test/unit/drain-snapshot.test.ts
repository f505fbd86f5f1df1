import {mkdtemp, readFile, rm, truncate, writeFile} from 'fs/promises';
import {tmpdir} from 'os';
import {join} from 'path';
import {readSnapshot, writeSnapshot} from '../../src/buffer/drain-snapshot';
import type {SnapshotEntry} from '../../src/buffer/drain-snapshot';
import {newClientId} from '../../src/protocol/client-id';

describe('the drain snapshot', () => {
    let folder: string;
    let file: string;
    const entry = (frames: Array<string>, sequenced = false): SnapshotEntry => ({
        clientId: newClientId(),
        session: {username: 'alice', connectPath: '/feed', sequenced, lastSeq: sequenced ? frames.length : 0},
        deadline: 1_000_000,
        frames,
    });

    beforeEach(async () => {
        folder = await mkdtemp(join(tmpdir(), 'mashroom-websocket-snapshot-'));
        file = join(folder, '.drained.ndjson');
    });

    afterEach(async () => {
        await rm(folder, {recursive: true, force: true});
    });

    it('reads back what was written, frames beyond ASCII and clients without frames included', async () => {
        const entries = [entry(['{"n":1}', '{"text":"Grüße 😀 \\\\n"}']), entry([]), entry(['{"type":"message","seq":1,"payload":1}'], true)];
        await writeSnapshot(file, entries, 42);
        expect(await readSnapshot(file)).toEqual({kind: 'read', storedAt: 42, entries});
        // No temporary file left behind
        await expect(readFile(`${file}.tmp`)).rejects.toThrow('ENOENT');
    });

    it('says when there is none', async () => {
        expect(await readSnapshot(file)).toEqual({kind: 'none'});
    });

    it('uses nothing of a snapshot that was cut short, anywhere', async () => {
        await writeSnapshot(file, [entry(['{"n":1}', '{"n":2}']), entry(['{"n":3}'])], 1);
        const length = (await readFile(file)).length;
        for (const cut of [1, 10, Math.floor(length / 2), length - 1]) {
            await writeSnapshot(file, [entry(['{"n":1}', '{"n":2}']), entry(['{"n":3}'])], 1);
            await truncate(file, cut);
            expect(await readSnapshot(file)).toMatchObject({kind: 'invalid'});
        }
    });

    it('uses nothing of a snapshot with a changed byte, a line of the same length included', async () => {
        await writeSnapshot(file, [entry(['{"greetings":"Hello A"}'])], 1);
        const content = await readFile(file, 'utf8');
        await writeFile(file, content.replace('Hello A', 'Hello B'));
        expect(await readSnapshot(file)).toEqual({kind: 'invalid', problem: 'its checksum does not match (cut short or changed)'});
    });

    it('uses nothing of a file of another format, however well formed', async () => {
        const body = `${JSON.stringify({format: 'something else', version: 1, storedAt: 1, clients: 0})}\n`;
        const {createHash} = await import('crypto');
        await writeFile(file, `${body}${JSON.stringify({end: true, sha256: createHash('sha256').update(body).digest('hex')})}\n`);
        expect(await readSnapshot(file)).toEqual({kind: 'invalid', problem: 'it is not a drain snapshot of a version this plugin reads'});
    });
});
