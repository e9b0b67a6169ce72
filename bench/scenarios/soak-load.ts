/**
 * The soak's request mix, shared by every stack so they all see the same prompts and lengths:
 * prompt lengths spread over [min, max] words, max_tokens over [min, max], both cycling with coprime
 * strides so lengths and prompts do not repeat in lockstep.
 */
const words = 'the lighthouse keeper found a bottle on the rocks with a letter inside written in faded ink about a ship'.split(' ');

export function soakPrompt(i: number, [min, max]: readonly [number, number]): string {
  const length = min + ((i * 37) % (max - min + 1));
  return Array.from({ length }, (_, k) => words[(k + i) % words.length]).join(' ');
}

export function soakMaxTokens(i: number, [min, max]: readonly [number, number]): number {
  return min + ((i * 7) % (max - min + 1));
}
