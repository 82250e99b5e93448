/**
 * The thread ONNX Runtime lives in ({@link SessionHost}). onnxruntime-node creates sessions and
 * runs them synchronously on the thread that calls it: on the main thread a session being
 * created (seconds for a large model) would hold up every image, the lamps and MQTT.
 */
import { parentPort } from 'node:worker_threads';
import ort from 'onnxruntime-node';
import type { HostReply, HostRequest, SessionTensor } from './session-host.js';

const sessions = new Map<number, ort.InferenceSession>();

function session(id: number): ort.InferenceSession {
  const found = sessions.get(id);
  if (!found) throw new Error(`no session ${id} in this thread`);
  return found;
}

async function answer(request: HostRequest): Promise<{ reply: HostReply; transfer: ArrayBuffer[] }> {
  switch (request.op) {
    case 'create': {
      const created = typeof request.source === 'string' ? await ort.InferenceSession.create(request.source, request.options) : await ort.InferenceSession.create(request.source, request.options);
      sessions.set(request.session, created);
      return { reply: { call: request.call, ok: true, names: { inputs: [...created.inputNames], outputs: [...created.outputNames] } }, transfer: [] };
    }
    case 'run': {
      const feeds = Object.fromEntries(Object.entries(request.feeds).map(([name, tensor]) => [name, new ort.Tensor('float32', tensor.data, tensor.dims)]));
      const result = await session(request.session).run(feeds, request.fetches);
      const outputs: Record<string, SessionTensor> = {};
      const transfer: ArrayBuffer[] = [];
      for (const [name, tensor] of Object.entries(result)) {
        const data = tensor.data as Float32Array;
        outputs[name] = { type: tensor.type, dims: [...tensor.dims], data };
        transfer.push(data.buffer as ArrayBuffer);
      }
      // The input buffers go back to the host, which stages the next run in them.
      const inputs = Object.fromEntries(Object.entries(request.feeds).map(([name, tensor]) => [name, tensor.data.buffer as ArrayBuffer]));
      transfer.push(...Object.values(inputs));
      return { reply: { call: request.call, ok: true, outputs, inputs }, transfer };
    }
    case 'release': {
      await sessions.get(request.session)?.release();
      sessions.delete(request.session);
      return { reply: { call: request.call, ok: true }, transfer: [] };
    }
  }
}

// One request at a time, in order: a session runs one inference at a time anyway.
let tail = Promise.resolve();
parentPort!.on('message', (request: HostRequest) => {
  tail = tail.then(async () => {
    try {
      const { reply, transfer } = await answer(request);
      parentPort!.postMessage(reply, transfer);
    } catch (error) {
      parentPort!.postMessage({ call: request.call, ok: false, message: (error as Error).message } satisfies HostReply);
    }
  });
});
