/**
 * A C-ECHO from this side (Verification SCU), for `doctor`: does something answer DICOM on the
 * receiver's port, as which AE, and does it accept us?
 */
import net from 'node:net';
import { Command, SopClass, TransferSyntax } from './constants.js';
import { encodeEchoRequest, parseCommand } from './dimse.js';
import { associateRq, parseAssociateAc, parsePData, pData, PduFramer, PduType, releaseRq } from './pdu.js';

export type EchoResult =
  | { kind: 'answered'; status: number; ms: number }
  | { kind: 'rejected'; result: number; source: number; reason: number }
  | { kind: 'refused-context' }
  | { kind: 'aborted' }
  | { kind: 'unreachable'; code: string; message: string };

export function cEcho(options: { host: string; port: number; calledAE: string; callingAE: string; timeoutMs: number }): Promise<EchoResult> {
  const started = Date.now();
  return new Promise((resolve) => {
    const framer = new PduFramer(1024 * 1024);
    let settled = false;
    const finish = (result: EchoResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.end();
      setTimeout(() => socket.destroy(), 200).unref();
      resolve(result);
    };
    const socket = net.connect({ host: options.host, port: options.port });
    const timer = setTimeout(() => finish({ kind: 'unreachable', code: 'ETIMEDOUT', message: `no answer in ${options.timeoutMs} ms` }), options.timeoutMs);
    let connected = false;
    // Reset after connecting: something holds the port but does not speak DICOM.
    socket.on('error', (error: NodeJS.ErrnoException) => finish(connected ? { kind: 'aborted' } : { kind: 'unreachable', code: error.code ?? 'ERROR', message: error.message }));
    socket.on('close', () => finish({ kind: 'aborted' }));
    socket.on('connect', () => {
      connected = true;
      socket.write(associateRq(options.calledAE, options.callingAE, [{ id: 1, abstractSyntax: SopClass.VERIFICATION, transferSyntaxes: [TransferSyntax.IMPLICIT_LE] }], 65536));
    });
    socket.on('data', (chunk: Buffer) => {
      try {
        framer.push(chunk);
        for (let pdu = framer.next(); pdu; pdu = framer.next()) {
          if (pdu.type === PduType.ASSOCIATE_RJ) return finish({ kind: 'rejected', result: pdu.body[1]!, source: pdu.body[2]!, reason: pdu.body[3]! });
          if (pdu.type === PduType.ABORT) return finish({ kind: 'aborted' });
          if (pdu.type === PduType.ASSOCIATE_AC) {
            const context = parseAssociateAc(pdu.body).find((c) => c.id === 1);
            if (context?.result !== 0) {
              socket.write(releaseRq());
              return finish({ kind: 'refused-context' });
            }
            socket.write(pData(1, true, true, encodeEchoRequest(1, SopClass.VERIFICATION)));
          } else if (pdu.type === PduType.P_DATA_TF) {
            const [pdv] = parsePData(pdu.body);
            const response = parseCommand(pdv!.data);
            if (response.commandField === Command.C_ECHO_RSP) {
              socket.write(releaseRq());
              return finish({ kind: 'answered', status: response.status ?? -1, ms: Date.now() - started });
            }
          }
        }
      } catch {
        finish({ kind: 'aborted' });
      }
    });
  });
}
