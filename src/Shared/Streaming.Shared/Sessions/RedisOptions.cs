using System.ComponentModel.DataAnnotations;
using StackExchange.Redis;

namespace Streaming.Shared.Sessions;

/// <summary>
/// Configuration section <c>Redis</c> (env: <c>Redis__Configuration</c>, <c>Redis__User</c>, <c>Redis__Password</c>,
/// <c>Redis__Tls</c>). The user and password are the service's Redis ACL user; they come from a Secret and override
/// what the configuration string says.
/// </summary>
public sealed class RedisOptions : IValidatableObject
{
    public const string Section = "Redis";

    /// <summary>A StackExchange.Redis configuration string, e.g. <c>localhost:6379,abortConnect=false</c>.</summary>
    [Required(AllowEmptyStrings = false)]
    public string Configuration { get; set; } = "";

    /// <summary>Prefix of every session key (several deployments can share one Redis).</summary>
    [Required(AllowEmptyStrings = false)]
    public string KeyPrefix { get; set; } = "s";

    /// <summary>The ACL user (Redis 6+); empty: the default user.</summary>
    public string User { get; set; } = "";

    /// <summary>The ACL user's password (from a Secret); empty: none.</summary>
    public string Password { get; set; } = "";

    /// <summary>Connect over TLS (the server's certificate is checked against the system's CAs, or <see cref="TlsCaLocation"/>).</summary>
    public bool Tls { get; set; }

    /// <summary>PEM file of the CA that signed Redis's certificate; empty: the system's CAs.</summary>
    public string TlsCaLocation { get; set; } = "";

    /// <summary>The connection settings: <see cref="Configuration"/> with the user, password and TLS settings applied.</summary>
    /// <exception cref="ArgumentException"><see cref="Configuration"/> cannot be parsed.</exception>
    public ConfigurationOptions ToConfigurationOptions()
    {
        var options = ConfigurationOptions.Parse(Configuration);
        if (User.Length > 0)
        {
            options.User = User;
        }

        if (Password.Length > 0)
        {
            options.Password = Password;
        }

        if (Tls)
        {
            options.Ssl = true;
            if (TlsCaLocation.Length > 0)
            {
                options.TrustIssuer(TlsCaLocation);
            }
        }

        return options;
    }

    /// <summary>Start-up validation: each message names the key to fix.</summary>
    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        string? problem = null;
        try
        {
            _ = ConfigurationOptions.Parse(Configuration);
        }
        catch (ArgumentException e)
        {
            problem = e.Message;
        }

        if (problem is not null && Configuration.Length > 0)
        {
            yield return new ValidationResult($"{Section}:{nameof(Configuration)} cannot be parsed: {problem}", [nameof(Configuration)]);
        }

        if (User.Length > 0 && Password.Length == 0)
        {
            yield return new ValidationResult($"{Section}:{nameof(Password)} is required when {Section}:{nameof(User)} is set", [nameof(Password)]);
        }

        if (TlsCaLocation.Length > 0 && !Tls)
        {
            yield return new ValidationResult($"{Section}:{nameof(TlsCaLocation)} needs {Section}:{nameof(Tls)} true", [nameof(TlsCaLocation)]);
        }
    }
}
