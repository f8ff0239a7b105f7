// Small messages with the header fields mail clients build their message lists from: fast to
// write by the hundred thousand (a big folder for the scale bench, a 10,000-message folder in tests).
import type { MailMessage } from './maildir.js';

const NAMES = ['Ada Lovelace', 'Grace Hopper', 'Jörg Müller', 'Zoë Chen', 'Björk Guðmundsdóttir', 'Linus Pauling'];

/** Message `index` of a thread of up to 4: replies carry In-Reply-To and References. */
function messageBytes(index: number): Buffer {
  const from = NAMES[index % NAMES.length] as string;
  const to = NAMES[(index + 1) % NAMES.length] as string;
  const thread = index - (index % 4);
  const reply = index % 4 > 0;
  const topic = `Report ${thread} on the quarterly figures`;
  const subject = reply ? `Re: ${topic}` : index % 7 === 0 ? `=?UTF-8?Q?R=C3=A9sum=C3=A9_${thread}?=` : topic;
  const date = new Date(Date.UTC(2020, 0, 1) + index * 60_000).toUTCString().replace('GMT', '+0000');
  const lines = [
    `Date: ${date}`,
    `From: "${from}" <user${index % 97}@example.org>`,
    `To: "${to}" <list@example.com>`,
    ...(index % 3 === 0 ? [`Cc: archive@example.com`] : []),
    `Subject: ${subject}`,
    `Message-ID: <${index}.big@example.org>`,
    ...(reply ? [`In-Reply-To: <${index - 1}.big@example.org>`, `References: <${thread}.big@example.org> <${index - 1}.big@example.org>`] : []),
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=utf-8',
    'Content-Transfer-Encoding: 8bit',
    '',
    `Message ${index}: the figures are attached to the ticket.`,
    '',
  ];
  return Buffer.from(lines.join('\r\n'));
}

/** `count` messages for `folder`, numbered from `from`; INTERNALDATE one minute apart. */
export function* smallMessages(folder: string, count: number, from = 0): Generator<MailMessage> {
  for (let i = from; i < from + count; i++) {
    const bytes = messageBytes(i);
    yield { folder, internalDate: new Date(Date.UTC(2020, 0, 1) + i * 60_000), size: bytes.length, vsize: bytes.length, chunks: () => [bytes] };
  }
}
