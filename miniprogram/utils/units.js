// Amounts and distances as residents read them: money in yuan, distances in 米 / 公里.

// Integer fen in yuan with two decimals: 666 -> "6.66".
function yuan(fen) {
  return (fen / 100).toFixed(2)
}

function distance(metres) {
  return metres < 1000 ? `${Math.round(metres)} 米` : `${(metres / 1000).toFixed(1)} 公里`
}

module.exports = {yuan, distance}
