/** Built-in label lists, by the names node configs and model parameters use. */
import { TritonError } from '../../protocol/errors';
import { COCO80 } from './coco';
import { IMAGENET1000 } from './imagenet';

export { COCO80, IMAGENET1000 };

export type LabelListName = 'coco80' | 'imagenet1000';

/** The built-in list called `name`; INVALID_OPTION for any other name. */
export function labelsFor(name: LabelListName): readonly string[] {
  switch (name) {
    case 'coco80':
      return COCO80;
    case 'imagenet1000':
      return IMAGENET1000;
    default:
      throw new TritonError(
        'INVALID_OPTION',
        `Unknown label list '${String(name)}': use 'coco80' or 'imagenet1000'`,
      );
  }
}
