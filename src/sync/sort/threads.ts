import type { Uid } from '../../model/types.js';
import type { FolderGeneration } from '../generation.js';
import { keyColumns } from './key-columns.js';
import { orderedSubjectThreads, referencesThreads, type ThreadSet } from './thread.js';

export const THREAD_ALGORITHMS = { ORDEREDSUBJECT: orderedSubjectThreads, REFERENCES: referencesThreads } as const;
export type ThreadAlgorithm = keyof typeof THREAD_ALGORITHMS;

/** THREAD over the candidates (ascending); `name` maps a UID to the number the answer gives (sequence number or UID). */
export async function threadMessages(generation: FolderGeneration, candidates: readonly Uid[], algorithm: ThreadAlgorithm, name: (uid: Uid) => number): Promise<string> {
  const columns = await keyColumns(generation, ['date', 'subject', 'thread']);
  // messages whose keys could not be had are left out
  const positions = columns.positionsOf(candidates).filter((position) => columns.known[position] === 1);
  const date = columns.number('date');
  const subject = columns.rank('subject');
  const thread = columns.thread;
  const parentStart = new Uint32Array(positions.length + 1);
  positions.forEach((position, i) => {
    parentStart[i + 1] = (parentStart[i] as number) + (thread.parentStart[position + 1] as number) - (thread.parentStart[position] as number);
  });
  const parents = new Int32Array(parentStart[positions.length] as number);
  positions.forEach((position, i) => {
    parents.set(thread.parents.subarray(thread.parentStart[position], thread.parentStart[position + 1]), parentStart[i]);
  });
  const set: ThreadSet = {
    names: Float64Array.from(positions, (position) => name(columns.uids[position] as Uid)),
    date: Float64Array.from(positions, (position) => date[position] as number),
    subject: Uint32Array.from(positions, (position) => subject.ranks[position] as number),
    emptySubject: subject.empty,
    subjectRanks: subject.count,
    replyOrForward: Uint8Array.from(positions, (position) => thread.replyOrForward[position] as number),
    messageId: Int32Array.from(positions, (position) => thread.messageId[position] as number),
    parentStart,
    parents,
    ids: thread.ids.size,
  };
  return THREAD_ALGORITHMS[algorithm](set);
}
