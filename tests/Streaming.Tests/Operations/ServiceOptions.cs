using System.ComponentModel.DataAnnotations;
using System.Reflection;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace Streaming.Tests.Operations;

/// <summary>An options class a service binds, with its configuration section (its <c>Section</c> constant).</summary>
public sealed record BoundOptions(Type Type, string Section)
{
    /// <summary>Properties that the configuration can set (case-insensitive, as configuration binding is).</summary>
    public PropertyInfo? Property(string name) =>
        Type.GetProperties(BindingFlags.Public | BindingFlags.Instance)
            .FirstOrDefault(p => p.CanWrite && p.GetSetMethod() is not null && string.Equals(p.Name, name, StringComparison.OrdinalIgnoreCase));

    /// <summary>[Required] properties whose default is empty: start-up fails unless configuration sets them.</summary>
    public IEnumerable<PropertyInfo> RequiredWithoutDefault()
    {
        object defaults = Activator.CreateInstance(Type)!;
        return Type.GetProperties(BindingFlags.Public | BindingFlags.Instance)
            .Where(p => p.GetCustomAttribute<RequiredAttribute>() is not null)
            .Where(p => p.GetValue(defaults) is null or "");
    }
}

/// <summary>
/// What a service really reads, learnt from the service itself: its <c>Add*Services</c> registration is run on an
/// empty host builder, and every options type it binds to configuration (a <c>BindConfiguration</c> registers an
/// <see cref="IOptionsChangeTokenSource{TOptions}"/>) is a section the service reads. Then the same registration,
/// fed a manifest's environment, resolves each options value, which runs the service's own start-up validation.
/// </summary>
public static class ServiceOptions
{
    public static Assembly ServiceAssembly(string assemblyName) => Assembly.Load(assemblyName);

    /// <summary>Public <c>*Options</c> classes with a <c>Section</c> constant declared in <paramref name="assembly"/>.</summary>
    public static IEnumerable<BoundOptions> Declared(Assembly assembly) =>
        assembly.GetExportedTypes()
            .Where(t => t.IsClass && t.Name.EndsWith("Options", StringComparison.Ordinal) && SectionOf(t) is not null)
            .Select(t => new BoundOptions(t, SectionOf(t)!));

    public static string? SectionOf(Type type) =>
        type.GetField("Section", BindingFlags.Public | BindingFlags.Static) is { IsLiteral: true } field ? field.GetRawConstantValue() as string : null;

    /// <summary>
    /// Runs the service's registration with <paramref name="environment"/> as configuration. Returns the options it
    /// binds and, per options type, the validation failures of the values that environment gives.
    /// </summary>
    public static (IReadOnlyList<BoundOptions> Bound, IReadOnlyList<string> Failures) Bind(Assembly assembly, IReadOnlyDictionary<string, string> environment)
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings { EnvironmentName = Environments.Production });
        builder.Configuration.AddInMemoryCollection(environment.Select(e => new KeyValuePair<string, string?>(e.Key.Replace("__", ":", StringComparison.Ordinal), e.Value)));
        Register(assembly, builder);

        var bound = builder.Services
            .Where(d => d.ServiceType.IsGenericType && d.ServiceType.GetGenericTypeDefinition() == typeof(IOptionsChangeTokenSource<>))
            .Select(d => d.ServiceType.GetGenericArguments()[0])
            .Distinct()
            .Select(t => new BoundOptions(t, SectionOf(t) ?? throw new InvalidOperationException($"{t.FullName} is bound to configuration but has no Section constant")))
            .ToList();

        var failures = new List<string>();
        using var provider = builder.Services.BuildServiceProvider();
        foreach (var options in bound)
        {
            object accessor = provider.GetRequiredService(typeof(IOptions<>).MakeGenericType(options.Type));
            try
            {
                _ = accessor.GetType().GetProperty("Value")!.GetValue(accessor);
            }
            catch (TargetInvocationException e) when (e.InnerException is OptionsValidationException invalid)
            {
                failures.AddRange(invalid.Failures.Select(f => $"{options.Section}: {f}"));
            }
        }

        return (bound, failures);
    }

    /// <summary>Calls the service's public static <c>Add*Services</c> extension (the house style: one per service).</summary>
    private static void Register(Assembly assembly, HostApplicationBuilder builder)
    {
        var methods = assembly.GetExportedTypes()
            .Where(t => t.IsAbstract && t.IsSealed)
            .SelectMany(t => t.GetMethods(BindingFlags.Public | BindingFlags.Static))
            .Where(m => m.Name.StartsWith("Add", StringComparison.Ordinal) && m.Name.EndsWith("Services", StringComparison.Ordinal))
            .ToList();
        int called = 0;
        foreach (var method in methods)
        {
            var parameters = method.GetParameters();
            object?[]? args = parameters.Select(p => p.ParameterType).ToArray() switch
            {
                [var b] when b.IsAssignableFrom(typeof(HostApplicationBuilder)) => [builder],
                [var b, var a] when b.IsAssignableFrom(typeof(HostApplicationBuilder)) && a == typeof(string[]) => [builder, Array.Empty<string>()],
                [var s] when s == typeof(IServiceCollection) => [builder.Services],
                [var s, var c] when s == typeof(IServiceCollection) && c.IsAssignableFrom(typeof(ConfigurationManager)) => [builder.Services, builder.Configuration],
                _ => null,
            };
            if (args is not null)
            {
                method.Invoke(null, args);
                called++;
            }
        }

        if (called == 0)
        {
            throw new Xunit.Sdk.XunitException(
                $"{assembly.GetName().Name} has no public static Add*Services(IHostApplicationBuilder) extension to learn its configuration from");
        }
    }
}
