// Helpers shared by the alerts and the rules.
{
  // A YAML `>-` block: the lines of a ||| text block joined by spaces.
  fold(text):: std.strReplace(std.rstripChars(text, '\n'), '\n', ' '),

  // A Prometheus duration for prose: '30m' -> '30 minutes', '1h' -> '1 hour'; other forms unchanged.
  humanize(duration)::
    local units = { s: 'second', m: 'minute', h: 'hour', d: 'day' };
    local unit = std.substr(duration, std.length(duration) - 1, 1);
    local number = std.substr(duration, 0, std.length(duration) - 1);
    if std.objectHas(units, unit) && std.length(number) > 0 && std.length(std.findSubstr('.', number)) == 0
       && std.all([std.member('0123456789', c) for c in std.stringChars(number)])
    then number + ' ' + units[unit] + (if number == '1' then '' else 's')
    else duration,

  // `base` and `path` joined by one slash; an empty base leaves the path as it is.
  join(base, path)::
    if base == '' then path
    else std.rstripChars(base, '/') + '/' + std.lstripChars(path, '/'),
}
