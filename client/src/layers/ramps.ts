/**
 * Colour ramps shared by map paint and legends, so a legend never disagrees with the map.
 */

/** matplotlib's viridis at 9 stops: the CHM tiles use the server's `colormap=viridis`. */
export const viridis = ['#440154', '#472d7b', '#3b528b', '#2c728e', '#21918c', '#28ae80', '#5ec962', '#addc30', '#fde725'];

/** CHM colour scale, metres: matches `rescale=0,40` in the tile URL. */
export const CHM_MIN_M = 0;
export const CHM_MAX_M = 40;

/** Tree tops coloured by height: warm colours that stand out on green imagery and on viridis. */
export const treeHeightStops: Array<[number, string]> = [
  [2, '#fff3b0'],
  [10, '#ffc15e'],
  [20, '#f57a3d'],
  [30, '#d1344b'],
  [40, '#7a1f5c'],
];

export function cssGradient(colours: string[]): string {
  return `linear-gradient(to right, ${colours.join(', ')})`;
}
