/** Deterministic filler text for the document category (no network, no corpus files). */
import type { Rng } from '../prng.js';

const COMMON = (
  'the of and to in is that for it as was with be by on not he this are or his from at which but have an they ' +
  'you were her all she there would their we him been has when who will more no if out so said what up its about ' +
  'into than them can only other new some could time these two may then do first any my now such like our over man ' +
  'me even most made after also did many before must through back years where much your way well down should because ' +
  'each just those people how too little state good very make world still own see men work long get here between both ' +
  'life being under never day same another know while last might us great old year off come since against go came right ' +
  'used take three meeting budget quarterly invoice delivery schedule project report minutes agenda policy service customer ' +
  'account balance payment station building weather garden kitchen library museum journey river mountain window letter'
).split(' ');

const CLINICAL = (
  'cervical spine lateral view alignment is maintained vertebral body heights preserved no acute fracture ' +
  'prevertebral soft tissues within normal limits odontoid intact facet joints congruent disc spaces ' +
  'degenerative change at C5 C6 with small anterior osteophytes clinical correlation recommended comparison ' +
  'with prior study impression no radiographic evidence of injury'
).split(' ');

export function words(rng: Rng, count: number, vocabulary: 'common' | 'clinical' = 'common'): string[] {
  const list = vocabulary === 'common' ? COMMON : CLINICAL;
  const out: string[] = [];
  let sentenceStart = true;
  for (let i = 0; i < count; i++) {
    let word = rng.pick(list);
    if (sentenceStart) word = word.charAt(0).toUpperCase() + word.slice(1);
    sentenceStart = false;
    if (i === count - 1 || rng.chance(0.08)) {
      word += '.';
      sentenceStart = true;
    } else if (rng.chance(0.06)) {
      word += ';';
    }
    out.push(word);
  }
  return out;
}

export function title(rng: Rng, count = 3): string {
  return words(rng, count)
    .map((w) => w.replace(/[.;]$/, ''))
    .map((w) => w.charAt(0).toUpperCase() + w.slice(1))
    .join(' ');
}

const NAMES = ['Smith', 'Garcia', 'Müller', 'Rossi', 'Nowak', 'Dubois', 'Jensen', 'Silva', 'Kowalski', 'Novak', 'Brown', 'Tanaka'];

export function surname(rng: Rng): string {
  return rng.pick(NAMES);
}
