using System.Globalization;
using System.Reflection;
using PgVault.Text;

namespace PgVault.Configuration;

/// <summary>
/// Finds configuration keys that name nothing in <see cref="PgVaultOptions"/>: a typo in a file, an environment variable
/// or a <c>--set</c> override must fail, naming the whole key and the nearest valid one, never be silently ignored.
/// </summary>
public static class ConfigurationKeys
{
    /// <summary>One message per unknown key (its full path, and "did you mean" when one is close).</summary>
    /// <param name="keys">Full keys as configuration flattens them (<c>PgVault:Clusters:0:Id</c>), sections included.</param>
    public static IReadOnlyList<string> FindUnknown(IEnumerable<string> keys)
    {
        ArgumentNullException.ThrowIfNull(keys);
        var errors = new List<string>();
        var reported = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        foreach (var key in keys)
        {
            var segments = key.Split(':');
            if (segments.Length < 2 || !string.Equals(segments[0], PgVaultOptions.SectionName, StringComparison.OrdinalIgnoreCase))
                continue;
            if (Check(segments) is { } problem && reported.Add(problem.Path))
                errors.Add(problem.Message);
        }

        return errors;
    }

    private static (string Path, string Message)? Check(string[] segments)
    {
        var type = typeof(PgVaultOptions);
        var path = segments[0];
        for (var i = 1; i < segments.Length; i++)
        {
            var segment = segments[i];
            var parent = path;
            path += ":" + segment;
            type = Nullable.GetUnderlyingType(type) ?? type;
            if (DictionaryValue(type) is { } valueType)
            {
                type = valueType;
                continue;
            }

            if (ListItem(type) is { } itemType)
            {
                if (!int.TryParse(segment, NumberStyles.None, CultureInfo.InvariantCulture, out _))
                    return (path, $"configuration key '{path}': '{parent}' is a list; its entries are numbered ('{parent}:0:…')");
                type = itemType;
                continue;
            }

            if (IsValue(type))
                return (path, $"configuration key '{path}': '{parent}' is a value, not a section");

            var properties = type.GetProperties(BindingFlags.Public | BindingFlags.Instance);
            var property = properties.FirstOrDefault(p => string.Equals(p.Name, segment, StringComparison.OrdinalIgnoreCase));
            if (property is null)
            {
                var nearest = Suggestions.Closest(segment, properties.Select(p => p.Name));
                var hint = nearest is null ? $"the keys of '{parent}' are: {string.Join(", ", properties.Select(p => p.Name))}"
                    : $"did you mean '{parent}:{nearest}'?";
                return (path, $"unknown configuration key '{path}'; {hint}");
            }

            type = property.PropertyType;
        }

        return null;
    }

    private static bool IsValue(Type type) =>
        type.IsPrimitive || type.IsEnum || type == typeof(string) || type == typeof(decimal) || type == typeof(TimeSpan)
        || type == typeof(DateTimeOffset) || type == typeof(DateTime) || type == typeof(Guid) || type == typeof(Uri);

    private static Type? DictionaryValue(Type type) =>
        type.IsGenericType && type.GetGenericTypeDefinition() == typeof(Dictionary<,>) ? type.GetGenericArguments()[1] : null;

    private static Type? ListItem(Type type) =>
        type.IsArray ? type.GetElementType()
        : type.IsGenericType && type.GetGenericTypeDefinition() == typeof(List<>) ? type.GetGenericArguments()[0] : null;
}
