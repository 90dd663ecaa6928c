using System.Globalization;
using System.Reflection;
using System.Text.RegularExpressions;

namespace PgVault.Catalog.Sql;

/// <summary>One schema step: version N and its SQL, from an embedded resource named <c>NNNN_description.sql</c>.</summary>
public sealed record Migration(int Version, string Name, string Sql)
{
    /// <summary>The migrations embedded in <paramref name="assembly"/>, in version order. Versions must be 1, 2, 3...</summary>
    public static IReadOnlyList<Migration> FromAssembly(Assembly assembly)
    {
        ArgumentNullException.ThrowIfNull(assembly);
        var list = new List<Migration>();
        foreach (var name in assembly.GetManifestResourceNames())
        {
            var m = Regex.Match(name, @"(\d{4})_([A-Za-z0-9_]+)\.sql$");
            if (!m.Success)
                continue;
            using var stream = assembly.GetManifestResourceStream(name)!;
            using var reader = new StreamReader(stream);
            list.Add(new Migration(int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture), m.Groups[2].Value, reader.ReadToEnd()));
        }

        list.Sort((a, b) => a.Version.CompareTo(b.Version));
        for (var i = 0; i < list.Count; i++)
        {
            if (list[i].Version != i + 1)
                throw new InvalidOperationException($"catalog migrations of {assembly.GetName().Name} are not numbered 1..N: found {list[i].Version} at position {i + 1}");
        }

        return list;
    }
}
