using System.Buffers.Binary;
using System.Security.Cryptography;

namespace Streaming.Shared.Data;

/// <summary>A short, stable fingerprint of ratings (order-sensitive): tells eval and the trainer whether they see the same data.</summary>
public static class RatingsFingerprint
{
    /// <summary>Hex SHA-256 (first 16 characters) over every rating's user, item and value, in order.</summary>
    public static string Of(IEnumerable<Rating> ratings)
    {
        ArgumentNullException.ThrowIfNull(ratings);
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        Span<byte> buffer = stackalloc byte[12];
        foreach (var r in ratings)
        {
            BinaryPrimitives.WriteInt32LittleEndian(buffer, r.UserId);
            BinaryPrimitives.WriteInt32LittleEndian(buffer[4..], r.ItemId);
            BinaryPrimitives.WriteSingleLittleEndian(buffer[8..], r.Value);
            hash.AppendData(buffer);
        }

        return Convert.ToHexStringLower(hash.GetHashAndReset())[..16];
    }

    /// <summary>The fingerprint of a data set's ratings.</summary>
    public static string Of(RatingsDataset data) => Of((data ?? throw new ArgumentNullException(nameof(data))).Ratings);
}
