import type { Uid } from '../../model/types.js';
import type { FolderGeneration } from '../generation.js';
import { keyColumns, type ThreadColumns } from './key-columns.js';
import { type TypedColumn, valuesAt } from './typed-columns.js';
import { orderedSubjectThreads, referencesThreads, type ThreadSet } from './thread.js';

export const THREAD_ALGORITHMS = { ORDEREDSUBJECT: orderedSubjectThreads, REFERENCES: referencesThreads } as const;
export type ThreadAlgorithm = keyof typeof THREAD_ALGORITHMS;

/** The column's values at the positions: the column itself where they are all its positions (THREAD over the whole folder copies nothing). */
function at<T extends TypedColumn>(column: T, positions: Uint32Array): T {
  return positions.length === column.length ? column : valuesAt(column, positions);
}

/** The parents of the messages at the positions, laid out as a ThreadSet has them. */
function parentsAt(thread: ThreadColumns, positions: Uint32Array): Pick<ThreadSet, 'parentStart' | 'parents'> {
  if (positions.length === thread.messageId.length) return { parentStart: thread.parentStart, parents: thread.parents };
  const parentStart = new Uint32Array(positions.length + 1);
  positions.forEach((position, i) => {
    parentStart[i + 1] = (parentStart[i] as number) + (thread.parentStart[position + 1] as number) - (thread.parentStart[position] as number);
  });
  const parents = new Int32Array(parentStart[positions.length] as number);
  positions.forEach((position, i) => {
    parents.set(thread.parents.subarray(thread.parentStart[position], thread.parentStart[position + 1]), parentStart[i]);
  });
  return { parentStart, parents };
}

/** THREAD over the candidates (ascending); `name` maps a UID to the number the answer gives (sequence number or UID). */
export async function threadMessages(generation: FolderGeneration, candidates: readonly Uid[], algorithm: ThreadAlgorithm, name: (uid: Uid) => number): Promise<string> {
  const columns = await keyColumns(generation, ['date', 'subject', 'thread']);
  // messages whose keys could not be had are left out
  const positions = columns.positionsOf(candidates).filter((position) => columns.known[position] === 1);
  const subject = columns.rank('subject');
  const thread = columns.thread;
  const set: ThreadSet = {
    names: Uint32Array.from(positions, (position) => name(columns.uids[position] as Uid)),
    date: at(columns.number('date'), positions),
    subject: at(subject.ranks, positions),
    emptySubject: subject.empty,
    subjectRanks: subject.count,
    replyOrForward: at(thread.replyOrForward, positions),
    messageId: at(thread.messageId, positions),
    ...parentsAt(thread, positions),
    ids: thread.ids.size,
  };
  return THREAD_ALGORITHMS[algorithm](set);
}
