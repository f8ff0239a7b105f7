import type { Uid } from '../../model/types.js';
import type { FolderGeneration } from '../generation.js';
import { messageKeyBatches } from './key-source.js';
import { orderedSubjectThreads, referencesThreads, type ThreadMessage } from './thread.js';

export const THREAD_ALGORITHMS = { ORDEREDSUBJECT: orderedSubjectThreads, REFERENCES: referencesThreads } as const;
export type ThreadAlgorithm = keyof typeof THREAD_ALGORITHMS;

/** THREAD over the candidates (ascending); `name` maps a UID to the number the answer gives (sequence number or UID). */
export async function threadMessages(generation: FolderGeneration, candidates: readonly Uid[], algorithm: ThreadAlgorithm, name: (uid: Uid) => number): Promise<string> {
  const messages: ThreadMessage[] = [];
  for await (const batch of messageKeyBatches(generation, candidates)) {
    batch.keys.forEach((keys, i) => {
      const { date, subject, replyOrForward, messageId, parents } = keys;
      messages.push({ id: name(batch.uids[i] as Uid), date, subject, replyOrForward, messageId, parents });
    });
  }
  return THREAD_ALGORITHMS[algorithm](messages);
}
